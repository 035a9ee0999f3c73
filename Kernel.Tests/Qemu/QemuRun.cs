using System.Diagnostics;
using System.Text;
using PoolKernel.Platform;

namespace PoolKernel.Tests.Qemu;

/// <summary>What one QEMU boot produced: the exit status and everything on the serial console.</summary>
public sealed record QemuResult(int ExitStatus, string Console, bool TimedOut, string CommandLine)
{
    /// <summary>isa-debug-exit statuses (docs/exit-status.md): the statuses QEMU exits with for the kernel's <see cref="ExitCode"/> values ((v &lt;&lt; 1) | 1).</summary>
    public const int CleanHalt = ((int)ExitCode.Halt << 1) | 1, Panic = ((int)ExitCode.Panic << 1) | 1,
        CpuException = ((int)ExitCode.CpuException << 1) | 1, UnhandledException = ((int)ExitCode.UnhandledException << 1) | 1,
        SelfTestFailed = ((int)ExitCode.SelfTestFailed << 1) | 1, OutOfMemory = ((int)ExitCode.OutOfMemory << 1) | 1;

    /// <summary>The status QEMU exits with when the kernel writes <paramref name="code"/> to isa-debug-exit.</summary>
    internal static int StatusOf(ExitCode code) => ((int)code << 1) | 1;

    public string[] Lines => Console.Replace("\r", "").Split('\n');

    public override string ToString() =>
        $"qemu {CommandLine}\nexit status {ExitStatus}{(TimedOut ? " (timed out)" : "")}\n--- console ---\n{Console}\n--- end ---";
}

/// <summary>
/// Boots the real kernel under QEMU (TCG) with the serial console on stdio and the
/// isa-debug-exit device, and returns the console output and the exit status.
/// </summary>
public sealed class QemuBoot
{
    public string Machine { get; init; } = "q35";
    public string Memory { get; init; } = "128M";
    public int Cpus { get; init; } = 1;
    /// <summary>NUMA nodes, each with an equal memory-backend (memdev form); 0 or 1 = no NUMA.</summary>
    public int Nodes { get; init; }
    /// <summary>
    /// With <see cref="Nodes"/>: the node (QEMU nodeid, the SRAT proximity domain) of each CPU, which
    /// also sets the CPU count; null deals the CPUs out round-robin. Nodes without a CPU are memory-only.
    /// </summary>
    public int[] CpuNodes { get; init; }
    /// <summary>
    /// With <see cref="Nodes"/>: each node's memory (QEMU sizes such as "256M"; "0" = a node without
    /// memory, declared without a memdev) instead of equal shares; they must add up to <see cref="Memory"/>.
    /// </summary>
    public string[] NodeMemory { get; init; }
    /// <summary>With <see cref="Nodes"/>: the SLIT, row-major (Nodes x Nodes, 10 on the diagonal), instead of the default distances.</summary>
    public int[] Distances { get; init; }
    /// <summary>Boot the GRUB ISO (multiboot2) instead of the multiboot1 image with -kernel.</summary>
    public bool FromIso { get; init; }
    /// <summary>
    /// UEFI firmware (OVMF from Debian's ovmf package) instead of SeaBIOS: the ISO is booted through
    /// GRUB's EFI image (implies <see cref="FromIso"/>); each run gets its own copy of the variable store.
    /// </summary>
    public bool Uefi { get; init; }
    /// <summary>
    /// The kernel command line (multiboot1 boots). Unless it has its own run= or the test types
    /// <see cref="Input"/>, " run=halt" is appended so the kernel halts after boot instead of
    /// waiting at the shell prompt.
    /// </summary>
    public string KernelCommandLine { get; init; } = "";
    public string[] ExtraArgs { get; init; } = Array.Empty<string>();
    /// <summary>Bytes typed into the serial console, after the given prompt text appears.</summary>
    public string Input { get; init; }
    /// <summary>
    /// Bytes written to QEMU's stdin all at once as soon as the process starts, long before the
    /// kernel initialises COM1: type-ahead that the UART already holds at boot. Like
    /// <see cref="Input"/>, it stops " run=halt" from being appended.
    /// </summary>
    public string TypeAhead { get; init; }
    public string InputAfter { get; init; } = "pk> ";
    /// <summary>Run once the prompt has appeared, before <see cref="Input"/> is typed (e.g. a QEMU monitor command that changes the machine).</summary>
    public Action BeforeInput { get; init; }
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);

    public static string RepoRoot { get; } = FindRepoRoot();

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Cosmos.sln")))
                return dir.FullName;
        }
        throw new InvalidOperationException("repository root (Cosmos.sln) not found above " + AppContext.BaseDirectory);
    }

    public List<string> Arguments()
    {
        int cpus = CpuNodes != null ? CpuNodes.Length : Math.Max(Cpus, Math.Max(Nodes, 1));
        // Multi-threaded TCG: each CPU its own host thread, so the CPUs really run at once.
        var args = new List<string> { "-M", Machine, "-accel", "tcg,thread=multi", "-m", Memory, "-smp", cpus.ToString() };
        if (Nodes > 1)
        {
            long bytes = ParseSize(Memory);
            long perNodeMiB = bytes / Nodes / (1024 * 1024);
            for (int n = 0; n < Nodes; n++)
            {
                string size = NodeMemory != null ? NodeMemory[n] : $"{perNodeMiB}M";
                var spec = new StringBuilder($"node,nodeid={n}");
                if (size != "0")
                {
                    args.Add("-object");
                    args.Add($"memory-backend-ram,id=m{n},size={size}");
                    spec.Append($",memdev=m{n}");
                }
                for (int c = 0; c < cpus; c++)
                {
                    if ((CpuNodes != null ? CpuNodes[c] : c % Nodes) == n)
                        spec.Append($",cpus={c}");
                }
                args.Add("-numa");
                args.Add(spec.ToString());
            }
            for (int a = 0; a < Nodes; a++)
            {
                for (int b = Distances != null ? 0 : a + 1; b < Nodes; b++)
                {
                    if (Distances != null)
                    {
                        if (a != b)
                        {
                            args.Add("-numa");
                            args.Add($"dist,src={a},dst={b},val={Distances[a * Nodes + b]}");
                        }
                        continue;
                    }
                    args.Add("-numa");
                    // Farther nodes are farther apart, up to 220 (SLIT distances are bytes).
                    args.Add($"dist,src={a},dst={b},val={20 + Math.Min(b - a - 1, 40) * 5}");
                }
            }
        }
        string iso = Path.Combine(RepoRoot, "iso");
        if (Uefi)
        {
            args.AddRange(new[] { "-drive", $"if=pflash,format=raw,unit=0,readonly=on,file={Ovmf.Code}" });
            args.AddRange(new[] { "-drive", $"if=pflash,format=raw,unit=1,file={VariableStore}" });
        }
        if (FromIso || Uefi)
        {
            args.AddRange(new[] { "-cdrom", Path.Combine(iso, "kernel.iso") });
        }
        else
        {
            args.AddRange(new[] { "-kernel", Path.Combine(iso, "kernel-mb1.elf") });
            string commandLine = KernelCommandLine;
            if (Input == null && TypeAhead == null && !commandLine.Contains("run="))
                commandLine = (commandLine + " run=halt").Trim();
            args.AddRange(new[] { "-append", commandLine });
        }
        args.AddRange(new[] { "-serial", "stdio", "-display", "none", "-no-reboot", "-monitor", "none",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04" });
        args.AddRange(ExtraArgs);
        return args;
    }

    /// <summary>This run's copy of OVMF's variable store (UEFI boots only); <see cref="Run"/> deletes it afterwards.</summary>
    public string VariableStore => _variableStore ??= Ovmf.NewVariableStore();
    private string _variableStore;

    public static long ParseSize(string size)
    {
        char unit = char.ToUpperInvariant(size[^1]);
        long mult = unit switch { 'K' => 1L << 10, 'M' => 1L << 20, 'G' => 1L << 30, 'T' => 1L << 40, _ => 1 };
        string digits = char.IsDigit(size[^1]) ? size : size[..^1];
        return long.Parse(digits) * (char.IsDigit(size[^1]) ? 1L << 20 : mult);
    }

    public QemuResult Run()
    {
        try
        {
            return RunQemu();
        }
        finally
        {
            if (_variableStore != null)
                File.Delete(_variableStore);
        }
    }

    private QemuResult RunQemu()
    {
        var args = Arguments();
        var psi = new ProcessStartInfo("qemu-system-x86_64")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        var output = new StringBuilder();
        var gotPrompt = new ManualResetEventSlim(false);
        // A dedicated thread, not the thread pool: parallel tests (Parallel.For seeds) can starve the
        // pool for seconds, and a late reader would lose the console.
        var reader = new Thread(() =>
        {
            var buffer = new char[4096];
            int n;
            while ((n = process.StandardOutput.Read(buffer, 0, buffer.Length)) > 0)
            {
                lock (output)
                {
                    output.Append(buffer, 0, n);
                    if (Input != null && output.ToString().Contains(InputAfter))
                        gotPrompt.Set();
                }
            }
        }) { IsBackground = true };
        reader.Start();
        var errors = process.StandardError.ReadToEndAsync();
        // After the reader has started: QEMU stops reading its input while its output is not read, so
        // a type-ahead longer than the pipes hold would otherwise never be written.
        if (TypeAhead != null)
        {
            process.StandardInput.Write(TypeAhead);
            process.StandardInput.Flush();
        }
        if (Input != null && gotPrompt.Wait(Timeout))
        {
            BeforeInput?.Invoke();
            // Type slowly enough for a polled 16-byte UART FIFO.
            foreach (char c in Input)
            {
                process.StandardInput.Write(c);
                process.StandardInput.Flush();
                Thread.Sleep(5);
            }
        }
        bool exited = process.WaitForExit((int)Timeout.TotalMilliseconds);
        if (!exited)
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            process.WaitForExit();
        }
        reader.Join(TimeSpan.FromSeconds(60));
        string console;
        lock (output)
            console = output.ToString();
        string stderr = errors.Wait(TimeSpan.FromSeconds(5)) ? errors.Result : "";
        if (stderr.Length > 0)
            console += "\n[qemu stderr]\n" + stderr;
        return new QemuResult(exited ? process.ExitCode : -1, console, !exited, string.Join(' ', args));
    }
}

/// <summary>
/// Debian's OVMF build (package ovmf): the 4 MiB flash layout, read-only code and a writable copy of
/// the variable store per boot, so runs neither share nor keep boot entries.
/// </summary>
public static class Ovmf
{
    public const string Code = "/usr/share/OVMF/OVMF_CODE_4M.fd";
    public const string Variables = "/usr/share/OVMF/OVMF_VARS_4M.fd";

    public static string NewVariableStore()
    {
        string copy = Path.Combine(Path.GetTempPath(), $"pk-ovmf-vars-{Guid.NewGuid():N}.fd");
        File.Copy(Variables, copy);
        return copy;
    }
}
