using PoolKernel.Sim;

namespace PoolKernel.Tests.Sim;

/// <summary>Kernel.Sim's command run in-process: exit code, what it printed, what it said went wrong.</summary>
public sealed record SimRun(int ExitCode, string Output, string Error)
{
    public string[] Lines => Output.Split('\n');

    public static SimRun Of(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = SimCommand.Run(args, output, error);
        return new SimRun(code, output.ToString(), error.ToString());
    }

    /// <summary>The lines of one report (after its "pk> NAME" line, up to the next "pk> " or "sim: " line).</summary>
    public List<string> Report(string name)
    {
        var lines = new List<string>();
        bool inside = false;
        foreach (string line in Lines)
        {
            if (line == "pk> " + name)
            {
                inside = true;
                continue;
            }
            if (inside && (line.StartsWith("pk> ") || line.StartsWith("sim: ") || line.Length == 0))
                break;
            if (inside)
                lines.Add(line);
        }
        return lines;
    }

    public override string ToString() => $"exit {ExitCode}\n--- output\n{Output}\n--- error\n{Error}";
}
