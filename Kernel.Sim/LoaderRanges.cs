using System.Globalization;
using System.Text.RegularExpressions;
using PoolKernel.Boot.Layout;

namespace PoolKernel.Sim;

/// <summary>
/// Where the image and the boot loader put what the kernel reserves for them: numbers that depend on
/// the exact image size and the loader, which the simulator cannot compute. Read from a machine
/// description file whose lines are the kernel's own <c>dump</c> reservation lines
/// ("reservation base=0x.. end=0x.. ram_bytes=N name=NAME"), so a serial log of a boot that ran
/// <c>dump</c> is itself a description; other lines are ignored. Only the loader-placed names are
/// taken (kernel image, multiboot information, command line, loader name); the low firmware, the
/// pool metadata and the command line's ranges are the simulator's to compute.
/// </summary>
public sealed class LoaderRanges
{
    private static readonly Regex Line = new(@"^\s*reservation base=0x([0-9a-fA-F]+) end=0x([0-9a-fA-F]+) ram_bytes=(\d+) name=(.+?)\s*$");

    /// <summary>The ranges by reservation, in the file's order.</summary>
    public List<(ReservationName Name, ulong Base, ulong End)> Ranges { get; } = new();
    public string Source { get; private init; } = "";

    /// <summary>The reservations the simulator takes from a description (names as ReservationTable.Describe writes them).</summary>
    public static readonly ReservationName[] LoaderPlaced =
    {
        ReservationName.KernelImage, ReservationName.MultibootInformation, ReservationName.KernelCommandLine, ReservationName.BootLoaderName,
    };

    public static LoaderRanges FromFile(string path)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SimError($"--describe {path}: cannot read it ({e.Message})");
        }
        var result = new LoaderRanges { Source = path };
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].TrimEnd('\r');
            if (!line.TrimStart().StartsWith("reservation "))
                continue;
            Match m = Line.Match(line);
            if (!m.Success)
                throw new SimError($"--describe {path} line {i + 1}: not a dump reservation line ('reservation base=0x.. end=0x.. ram_bytes=N name=NAME'): '{line.Trim()}'");
            ulong start = ulong.Parse(m.Groups[1].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            ulong end = ulong.Parse(m.Groups[2].Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            if (end <= start)
                throw new SimError($"--describe {path} line {i + 1}: range ends at or before its start: '{line.Trim()}'");
            string name = m.Groups[4].Value;
            foreach (ReservationName n in LoaderPlaced)
            {
                if (ReservationTable.Describe(n) == name)
                {
                    if (result.Ranges.Any(r => r.Name == n))
                        throw new SimError($"--describe {path} line {i + 1}: '{name}' given twice");
                    result.Ranges.Add((n, start, end));
                }
            }
        }
        if (!result.Ranges.Any(r => r.Name == ReservationName.KernelImage))
            throw new SimError($"--describe {path}: no 'kernel image + boot arena' reservation line (save a boot's dump output, or write one such line)");
        return result;
    }

    public (ulong Base, ulong End)? Get(ReservationName name)
    {
        foreach (var r in Ranges)
            if (r.Name == name)
                return (r.Base, r.End);
        return null;
    }
}
