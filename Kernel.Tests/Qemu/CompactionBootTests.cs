using System.Globalization;
using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Qemu;

/// <summary>
/// Anti-fragmentation in the kernel (issue 15, docs/antifrag.md): `churn` fills the largest open pool
/// with a mobility mix, frees half, and gets order-9 blocks without and with compaction; the blocks
/// compaction moves are copied for real and their checksums verified; `compact` and `fragindex`
/// report every pool; the checker is clean after.
/// </summary>
public class CompactionBootTests
{
    private readonly ITestOutputHelper _output;

    public CompactionBootTests(ITestOutputHelper output) => _output = output;

    [Theory]
    [InlineData("pc", "256M", 1)]
    [InlineData("q35", "1G", 2)]
    public void Churn_CompactionGetsMoreOrder9Blocks_AndMovedContentsAreIntact(string machine, string memory, int cpus)
    {
        QemuResult result = new QemuBoot { Machine = machine, Memory = memory, Cpus = cpus, KernelCommandLine = "run=\"churn 7;compact;fragindex;check\"" }.Run();
        _output.WriteLine(result.ToString());
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        Match m = Regex.Match(result.Console,
            @"churn: seed 7, pool \d+: order-9 blocks for (\d+\.\d)% of free memory without compaction, (\d+\.\d)% with compaction; (\d+) pages moved, contents intact");
        Assert.True(m.Success, result.ToString());
        double plain = double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        double compacted = double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
        Assert.True(compacted >= plain + 30, $"compaction got {compacted}%, without {plain}%");
        // The issue's goal: compaction fills the holes of unmovable page blocks first (docs/antifrag.md), so
        // only the unmovable frames' own 4 KiB pieces stay out of reach.
        Assert.True(compacted >= 90, $"compaction got {compacted}%, the goal is 90%");
        Assert.True(long.Parse(m.Groups[3].Value) > 0);
        Assert.Matches(@"compact: pool 0: \d+ pages moved in \d+ blocks, \d+ page blocks freed, \d+ scanned, stopped: [a-z ]+; \d+ ticks", result.Console);
        Assert.Matches(@"fragindex: pool 0:( -?\d+){11}  score \d+", result.Console);
        BootTests.AssertContains(result, "check: ok");
        Assert.DoesNotContain("BROKEN", result.Console);
        Assert.DoesNotContain("CORRUPTED", result.Console);
    }
}
