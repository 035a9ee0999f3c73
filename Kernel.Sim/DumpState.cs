using System.Globalization;

namespace PoolKernel.Sim;

/// <summary>
/// The kernel's <c>dump</c> block read back (Kernel.Boot/Reports/MemoryReports.Dump writes it):
/// totals, reservations, pools and the page-block runs. From a serial log saved from a live kernel
/// (<see cref="FromFile"/>; other lines around the block are ignored) or from the simulator's own
/// dump, so both pictures are drawn from the same text.
/// </summary>
public sealed class DumpState
{
    public sealed record Pool(int Id, string Name, ulong NodeMask, ulong Low, ulong High, ulong Flags, int Priority, ulong Present, ulong Free, ulong Pageblocks);
    public sealed record Reservation(ulong Base, ulong End, string Name);
    public sealed record Block(ulong StartPfn, int Node, int Pool, uint Present, uint InUse);

    public Dictionary<string, ulong> Values { get; } = new();
    public List<Pool> Pools { get; } = new();
    public List<Reservation> Reservations { get; } = new();
    public List<Block> Blocks { get; } = new();

    public int Nodes => (int)Values.GetValueOrDefault("nodes", 1UL);
    public int PageblockOrder => (int)Values.GetValueOrDefault("pageblock_order", 9UL);

    public static DumpState FromFile(string path)
    {
        try
        {
            return Parse(File.ReadAllLines(path), path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SimError($"--dump {path}: cannot read it ({e.Message})");
        }
    }

    public static DumpState Parse(IReadOnlyList<string> lines, string source)
    {
        int begin = -1, end = -1;
        for (int i = 0; i < lines.Count; i++)
        {
            string l = lines[i].TrimEnd('\r');
            if (l.StartsWith("=== POOLKERNEL DUMP BEGIN v1 ===", StringComparison.Ordinal))
                begin = i;
            else if (l.StartsWith("=== POOLKERNEL DUMP END ===", StringComparison.Ordinal) && begin >= 0)
            {
                end = i;
                break;
            }
        }
        if (begin < 0 || end < 0)
            throw new SimError($"{source}: no complete dump block ('=== POOLKERNEL DUMP BEGIN v1 ===' ... 'END'): run the shell's dump and save the serial log");
        var d = new DumpState();
        for (int i = begin + 1; i < end; i++)
        {
            string line = lines[i].TrimEnd('\r');
            string where = $"{source} line {i + 1}";
            try
            {
                if (line.StartsWith("pool ", StringComparison.Ordinal))
                {
                    var f = Fields(line[5..]);
                    d.Pools.Add(new Pool((int)Num(f["id"]), f["name"], Num(f["nodemask"]), Num(f["low"]), Num(f["high"]), Num(f["flags"]),
                        (int)Num(f["prio"]), Num(f["present"]), Num(f["free"]), Num(f["pageblocks"])));
                }
                else if (line.StartsWith("reservation ", StringComparison.Ordinal))
                {
                    int nameAt = line.IndexOf(" name=", StringComparison.Ordinal);
                    var f = Fields(line[12..nameAt]);
                    d.Reservations.Add(new Reservation(Num(f["base"]), Num(f["end"]), line[(nameAt + 6)..]));
                }
                else if (line.StartsWith("blocks ", StringComparison.Ordinal))
                {
                    var f = Fields(line[7..]);
                    ulong start = Num(f["start"]);
                    uint[] present = f["present"].Split(',').Select(s => (uint)Num(s)).ToArray();
                    uint[] inuse = f["inuse"].Split(',').Select(s => (uint)Num(s)).ToArray();
                    if (present.Length != inuse.Length)
                        throw new FormatException("present= and inuse= differ in length");
                    for (int k = 0; k < present.Length; k++)
                        d.Blocks.Add(new Block(start + ((ulong)k << d.PageblockOrder), (int)Num(f["node"]), (int)Num(f["pool"]), present[k], inuse[k]));
                }
                else
                {
                    int eq = line.IndexOf('=');
                    if (eq <= 0)
                        throw new FormatException("not KEY=VALUE");
                    d.Values[line[..eq]] = Num(line[(eq + 1)..]);
                }
            }
            catch (Exception e) when (e is FormatException or KeyNotFoundException or OverflowException or ArgumentException)
            {
                throw new SimError($"{where}: malformed dump line ({e.Message}): '{line}'");
            }
        }
        if (d.Pools.Count == 0)
            throw new SimError($"{source}: the dump block lists no pools");
        if (d.Blocks.Count == 0)
            throw new SimError($"{source}: the dump block has no page-block lines (a kernel older than the picture support?)");
        return d;
    }

    private static Dictionary<string, string> Fields(string text)
    {
        var result = new Dictionary<string, string>();
        foreach (string part in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = part.IndexOf('=');
            if (eq <= 0)
                throw new FormatException($"'{part}' is not KEY=VALUE");
            result[part[..eq]] = part[(eq + 1)..];
        }
        return result;
    }

    private static ulong Num(string s) =>
        s.StartsWith("0x", StringComparison.Ordinal) ? ulong.Parse(s[2..], NumberStyles.HexNumber, CultureInfo.InvariantCulture) : ulong.Parse(s, NumberStyles.None, CultureInfo.InvariantCulture);
}
