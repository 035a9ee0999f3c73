namespace PoolKernel.Sim;

/// <summary>
/// Input the simulator cannot use (an unknown machine, a malformed map or description file, a
/// machine the kernel would stop on): one line saying what and where; the command exits non-zero and writes no file.
/// </summary>
public sealed class SimError : Exception
{
    /// <summary>The process exit code: 2 for bad input, 3 when the kernel itself would stop at boot on this machine.</summary>
    public int ExitCode { get; }

    public SimError(string message, int exitCode = 2) : base(message) => ExitCode = exitCode;
}
