using System.Globalization;
using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Qemu;

/// <summary>
/// The RTL8139 driver in internal MAC loopback (docs/drivers-nic.md). The card's netdev is a QEMU
/// hub port with nothing else on the hub, so a frame can only come back through the card itself:
/// `netloop` sends numbered, patterned broadcast frames and compares every byte that comes back.
/// Every "dma:" line is checked here independently against the card's rules (32-bit addresses;
/// the receive ring 8K+16+1500 bytes in one piece; four DWORD-aligned transmit buffers of at
/// least 1792 bytes), and after `unload` the driver's DMA pool user and buffers are gone.
/// </summary>
public class NicLoopbackTests
{
    private const ulong RingBytes = 8192 + 16 + 1500;
    private const ulong MaxTransmitFrame = 1792;
    private const ulong FourGiB = 1UL << 32;

    private static readonly Regex DmaLine = new(
        @"^dma: (\S+) (\S+) phys=0x([0-9a-f]+) len=0x([0-9a-f]+) bits=(\d+) boundary=0x([0-9a-f]+) (ok|VIOLATION \(refused\))$",
        RegexOptions.Multiline);

    private readonly ITestOutputHelper _output;

    public NicLoopbackTests(ITestOutputHelper output) => _output = output;

    private QemuResult Boot(string machine, string memory, string run)
    {
        QemuResult result = new QemuBoot
        {
            Machine = machine,
            Memory = memory,
            KernelCommandLine = $"run=\"{run}\"",
            // -nic none: no default e1000; the hub has only the card's port, so nothing outside
            // the card can echo a frame back.
            ExtraArgs = new[] { "-nic", "none", "-netdev", "hubport,id=n0,hubid=0", "-device", "rtl8139,netdev=n0" },
        }.Run();
        _output.WriteLine(result.ToString());
        return result;
    }

    /// <summary>The output of the shell command typed as <paramref name="command"/> (the n-th time it appears).</summary>
    private static string Section(QemuResult result, string command, int occurrence = 0)
    {
        string[] parts = result.Console.Replace("\r", "").Split("pk> ");
        int seen = 0;
        foreach (string part in parts)
        {
            if (!part.StartsWith(command + "\n"))
                continue;
            if (seen++ == occurrence)
                return part[(command.Length + 1)..];
        }
        Assert.Fail($"no output of \"{command}\" #{occurrence}\n{result}");
        return "";
    }

    private static ulong Hex(string s) => ulong.Parse(s, NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    [Theory]
    [InlineData("pc", "512M")]
    [InlineData("q35", "6G")]
    public void Netloop_FramesComeBackIntact_DmaObeys32Bits_PoolGoesAwayOnUnload(string machine, string memory)
    {
        QemuResult result = Boot(machine, memory, "lspci;netloop 50;dmapools;unload rtl8139;dmapools");
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        BootTests.AssertContains(result, "driver: rtl8139 takes pci ");
        BootTests.AssertContains(result, "(internal MAC loopback)");
        Assert.Matches(@"10ec:8139 class 0200 network controller  \[driver rtl8139\]", Section(result, "lspci"));
        Assert.Contains("netloop: rtl8139 sent 50, back intact 50, corrupt 0, lost 0", Section(result, "netloop 50"));

        // Every DMA address printed obeys the rules the line states, checked here, not trusted.
        MatchCollection lines = DmaLine.Matches(result.Console.Replace("\r", ""));
        Assert.NotEmpty(lines);
        foreach (Match m in lines)
        {
            ulong phys = Hex(m.Groups[3].Value), len = Hex(m.Groups[4].Value), boundary = Hex(m.Groups[6].Value);
            int bits = int.Parse(m.Groups[5].Value, CultureInfo.InvariantCulture);
            Assert.True(m.Groups[7].Value == "ok", $"refused: {m.Value}\n{result}");
            Assert.True(len > 0 && (bits >= 64 || phys + len <= 1UL << bits), $"beyond 2^{bits}: {m.Value}");
            Assert.True(boundary == 0 || phys / boundary == (phys + len - 1) / boundary, $"crosses {boundary:x}: {m.Value}");
        }

        // The card's own rules: 32-bit, one ring of 8K+16+1500 bytes, four DWORD-aligned transmit
        // buffers that can hold the largest frame, none overlapping.
        var nic = lines.Where(m => m.Groups[1].Value == "rtl8139").ToList();
        var regions = new List<(ulong Start, ulong End, string What)>();
        foreach (Match m in nic)
        {
            ulong phys = Hex(m.Groups[3].Value), len = Hex(m.Groups[4].Value);
            Assert.Equal("32", m.Groups[5].Value);
            Assert.True(phys + len <= FourGiB, $"not below 4 GiB: {m.Value}");
            Assert.True(phys % 4 == 0, $"not DWORD-aligned: {m.Value}");
            regions.Add((phys, phys + len, m.Groups[2].Value));
        }
        Assert.Single(nic, m => m.Groups[2].Value == "rx-ring" && Hex(m.Groups[4].Value) == RingBytes);
        for (int i = 0; i < 4; i++)
            Assert.Single(nic, m => m.Groups[2].Value == $"tx-buffer{i}" && Hex(m.Groups[4].Value) >= MaxTransmitFrame);
        Assert.Equal(5, nic.Count);
        foreach (var a in regions)
            foreach (var b in regions)
                Assert.True(a.What == b.What || a.End <= b.Start || b.End <= a.Start, $"{a.What} overlaps {b.What}\n{result}");

        // The pool the driver took, then its return: after unload no pool has rtl8139 as a user,
        // and the 32-bit pool is gone (or, if another driver shares it, holds fewer buffers).
        string before = Section(result, "dmapools", 0);
        Match held = Regex.Match(before, @"dma pool (\S+) \(pool \d+\): below 2\^32, .*, (\d+) buffers");
        Assert.True(held.Success, "no 32-bit DMA pool before unload\n" + result);
        Assert.Matches(@"user rtl8139: [1-9]\d* buffers", before);
        Assert.Contains("unload: rtl8139 stopped, memory returned", Section(result, "unload rtl8139"));
        string after = Section(result, "dmapools", 1);
        Assert.DoesNotContain("user rtl8139", after);
        if (!after.Contains("no DMA pools"))
        {
            Match left = Regex.Match(after, $@"dma pool {Regex.Escape(held.Groups[1].Value)} \(pool \d+\): .*, (\d+) buffers");
            Assert.True(!left.Success || int.Parse(left.Groups[1].Value) < int.Parse(held.Groups[2].Value),
                $"pool did not shrink after unload\n{result}");
        }
        // The driver's own messages are only its load line: no reset timeouts, bad headers or refusals.
        var complaints = result.Lines.Where(l => l.StartsWith("rtl8139: ") && !l.StartsWith("rtl8139: mac ")).ToList();
        Assert.True(complaints.Count == 0, string.Join("\n", complaints) + "\n" + result);
    }

    /// <summary>500 frames of 136 ring bytes each go round the 8 KiB ring about eight times: the read
    /// pointer (CAPR) wraps and frames that straddle the ring end (WRAP mode) come back intact.</summary>
    [Fact]
    public void Netloop_RingWrapsManyTimes_EveryFrameIntact()
    {
        QemuResult result = Boot("pc", "256M", "netloop 500;netloop 3");
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        Assert.Contains("netloop: rtl8139 sent 500, back intact 500, corrupt 0, lost 0", Section(result, "netloop 500"));
        Assert.Contains("netloop: rtl8139 sent 3, back intact 3, corrupt 0, lost 0", Section(result, "netloop 3"));
        Assert.DoesNotContain("bad receive header", result.Console);
    }
}
