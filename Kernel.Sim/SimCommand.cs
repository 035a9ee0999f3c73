using System.Globalization;
using System.Text;

namespace PoolKernel.Sim;

/// <summary>
/// The command line of Kernel.Sim (docs/sim.md), callable in-process: <see cref="Run"/> takes the
/// arguments and two writers and returns the exit code: 0, 2 for bad input (one line on the error
/// writer, nothing on the output one, no file written), 3 where the kernel itself would stop at boot.
/// </summary>
public static class SimCommand
{
    public const string Usage =
        "usage: Kernel.Sim [--machine pc|q35] [--memory SIZE] [--nodes N] [--cpus N] | --map FILE  [--describe FILE] [--cmdline TEXT]\n" +
        "                  [--report pools,meminfo,buddyinfo,zoneinfo,pageblocks,dump] [--picture FILE.svg|FILE.png]\n" +
        "       Kernel.Sim --dump FILE --picture FILE.svg|FILE.png\n" +
        "       Kernel.Sim --bench-charts DIR   (a PNG beside each DIR/summary*.json: every X against baseline_X)";

    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        if (args.Length == 1 && (args[0] == "-h" || args[0] == "--help"))
        {
            output.WriteLine(Usage);
            return 0;
        }
        try
        {
            string text = Execute(args);
            output.Write(text);
            return 0;
        }
        catch (SimError e)
        {
            error.WriteLine("Kernel.Sim: " + e.Message);
            return e.ExitCode;
        }
    }

    /// <summary>Everything the command prints, built whole before any of it is written (a failure prints nothing of it).</summary>
    private static string Execute(string[] args)
    {
        var o = SimArguments.Parse(args);
        var text = new StringBuilder();
        if (o.BenchChartsDir != null)
        {
            foreach (string chart in BenchCharts.WriteAll(o.BenchChartsDir))
                text.Append($"sim: chart written to {chart}\n");
            return text.ToString();
        }
        if (o.DumpFile != null)
        {
            var dump = DumpState.FromFile(o.DumpFile);
            Picture.Write(o.Picture, PictureModel.FromDump(dump, $"live kernel dump {Path.GetFileName(o.DumpFile)}"));
            text.Append($"sim: picture of {o.DumpFile} written to {o.Picture}\n");
            return text.ToString();
        }
        MachineSpec machine = o.MapFile != null
            ? MachineSpec.FromMapFile(o.MapFile, o.Cpus)
            : MachineSpec.FromQemu(o.Machine, o.Memory, o.Nodes, o.Cpus);
        LoaderRanges loader = o.DescribeFile != null ? LoaderRanges.FromFile(o.DescribeFile) : null;
        using var sim = new Simulation(machine, o.CommandLine, loader);
        text.Append($"sim: machine: {machine.Description}\n");
        text.Append($"sim: cmdline: {o.CommandLine}\n");
        if (loader == null)
        {
            text.Append("sim: no machine description (--describe FILE): the kernel image, multiboot information and the loader's strings are not reserved,\n");
            text.Append("sim:   so pools holding them (node 0's first MiBs) show more memory than the kernel's; see docs/sim.md\n");
        }
        else
        {
            foreach (var (name, b, e) in loader.Ranges)
                text.Append($"sim: from {loader.Source}: {Boot.Layout.ReservationTable.Describe(name)} 0x{b:x}-0x{e:x}\n");
        }
        text.Append(sim.BootLines);
        foreach (string report in o.Reports)
        {
            text.Append("pk> ").Append(report).Append('\n');
            text.Append(sim.Report(report));
        }
        if (o.Picture != null)
        {
            Picture.Write(o.Picture, PictureModel.FromSimulation(sim, $"{machine.Description}; cmdline '{o.CommandLine}'"));
            text.Append($"sim: picture written to {o.Picture}\n");
        }
        return text.ToString();
    }
}

/// <summary>The parsed arguments; defaults are build.ps1 run's machine (q35, 1 GiB, 2 nodes, 2 CPUs).</summary>
public sealed class SimArguments
{
    public string Machine = "q35";
    public ulong Memory = 1UL << 30;
    public int Nodes = 2;
    public int Cpus = 2;
    public string CommandLine = "";
    public string MapFile, DescribeFile, Picture, DumpFile, BenchChartsDir;
    public List<string> Reports = new() { "pools" };

    public static SimArguments Parse(string[] args)
    {
        var o = new SimArguments();
        bool shape = false;
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            string Value()
            {
                if (i + 1 >= args.Length)
                    throw new SimError($"{a} needs a value\n{SimCommand.Usage}");
                return args[++i];
            }
            switch (a)
            {
                case "--machine": o.Machine = Value(); shape = true; break;
                case "--memory": o.Memory = MachineSpec.ParseSize(Value(), a); shape = true; break;
                case "--nodes": o.Nodes = Int(Value(), a); shape = true; break;
                case "--cpus": o.Cpus = Int(Value(), a); break;
                case "--cmdline": o.CommandLine = Value(); break;
                case "--map": o.MapFile = Value(); break;
                case "--describe": o.DescribeFile = Value(); break;
                case "--picture": o.Picture = Value(); break;
                case "--dump": o.DumpFile = Value(); break;
                case "--bench-charts": o.BenchChartsDir = Value(); break;
                case "--report":
                    o.Reports = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
                    foreach (string r in o.Reports)
                        if (!Simulation.ReportNames.Contains(r))
                            throw new SimError($"--report: unknown report '{r}' ({string.Join(", ", Simulation.ReportNames)})");
                    break;
                default:
                    throw new SimError($"unknown argument '{a}'\n{SimCommand.Usage}");
            }
        }
        for (int i = 0; i < o.CommandLine.Length; i++)
        {
            // What a loader passes is bytes; the simulator takes the printable ASCII a shell can type
            // (the kernel's own diagnostics cover everything else a real line can hold).
            if (o.CommandLine[i] < 0x20 || o.CommandLine[i] > 0x7e)
                throw new SimError($"--cmdline: byte {i} is not printable ASCII");
        }
        if (o.MapFile != null && shape)
            throw new SimError("--map gives the machine's memory: it does not go with --machine, --memory or --nodes");
        if (o.DumpFile != null && (o.MapFile != null || shape || o.CommandLine.Length != 0))
            throw new SimError("--dump draws a live kernel's state: it goes with --picture only");
        if (o.BenchChartsDir != null && args.Length != 2)
            throw new SimError("--bench-charts DIR goes alone");
        if (o.DumpFile != null && o.Picture == null)
            throw new SimError("--dump needs --picture FILE.svg or FILE.png");
        if (o.Picture != null)
            PoolKernel.Sim.Picture.CheckPath(o.Picture);
        return o;
    }

    private static int Int(string text, string option)
    {
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int v))
            throw new SimError($"{option} '{text}': a whole number");
        return v;
    }
}
