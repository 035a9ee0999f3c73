using System.Globalization;
using Xunit;

namespace PoolKernel.Tests.Qemu;

/// <summary>The kernel's `dump` block parsed back: totals, reservations, pools (the page-block lines are Kernel.Sim's, for pictures).</summary>
public sealed class MemoryDump
{
    public sealed record Pool(int Id, string Name, ulong NodeMask, ulong Low, ulong High, ulong Flags, ulong Present, ulong Free, ulong Pageblocks, ulong[] Buddy, ulong Cached);
    public sealed record Reservation(ulong Base, ulong End, ulong RamBytes, string Name);

    public Dictionary<string, ulong> Values { get; } = new();
    public List<Pool> Pools { get; } = new();
    public List<Reservation> Reservations { get; } = new();

    public ulong this[string key] => Values[key];

    public static MemoryDump Parse(QemuResult result)
    {
        string[] lines = result.Lines;
        int begin = Array.FindIndex(lines, l => l.StartsWith("=== POOLKERNEL DUMP BEGIN"));
        int end = Array.FindIndex(lines, l => l.StartsWith("=== POOLKERNEL DUMP END"));
        Assert.True(begin >= 0 && end > begin, "no dump block\n" + result);
        var dump = new MemoryDump();
        for (int i = begin + 1; i < end; i++)
        {
            string line = lines[i];
            if (line.StartsWith("pool "))
            {
                var f = Fields(line[5..]);
                dump.Pools.Add(new Pool((int)Num(f["id"]), f["name"], Num(f["nodemask"]), Num(f["low"]), Num(f["high"]), Num(f["flags"]),
                    Num(f["present"]), Num(f["free"]), Num(f["pageblocks"]), f["buddy"].Split(',').Select(Num).ToArray(),
                    f.TryGetValue("cached", out string cached) ? Num(cached) : 0));
            }
            else if (line.StartsWith("reservation "))
            {
                int nameAt = line.IndexOf(" name=", StringComparison.Ordinal);
                var f = Fields(line[12..nameAt]);
                dump.Reservations.Add(new Reservation(Num(f["base"]), Num(f["end"]), Num(f["ram_bytes"]), line[(nameAt + 6)..]));
            }
            else if (!line.StartsWith("blocks "))
            {
                int eq = line.IndexOf('=');
                dump.Values[line[..eq]] = Num(line[(eq + 1)..]);
            }
        }
        return dump;
    }

    private static Dictionary<string, string> Fields(string text) =>
        text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);

    private static ulong Num(string s) =>
        s.StartsWith("0x") ? ulong.Parse(s[2..], NumberStyles.HexNumber, CultureInfo.InvariantCulture) : ulong.Parse(s, CultureInfo.InvariantCulture);
}
