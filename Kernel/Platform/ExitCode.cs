namespace PoolKernel.Platform
{
    /// <summary>
    /// How the kernel ends a QEMU run. Writing v to the isa-debug-exit port (0xf4) ends QEMU with
    /// status (v &lt;&lt; 1) | 1. The one table of exit values: docs/exit-status.md lists exactly these
    /// (a host test compares them), and the boot tests compile this file to derive their statuses.
    /// </summary>
    internal enum ExitCode : uint
    {
        Halt = 0x10,                // status 33: clean halt
        Panic = 0x11,               // status 35: kernel panic
        CpuException = 0x12,        // status 37: CPU exception report
        UnhandledException = 0x13,  // status 39: managed throw with no handler
        SelfTestFailed = 0x14,      // status 41: a boot self-test failed
        OutOfMemory = 0x15,         // status 43: a fatal out-of-memory in the runtime
    }
}
