using System.Text.RegularExpressions;
using PoolKernel.Platform;
using PoolKernel.Tests.Qemu;
using Xunit;

namespace PoolKernel.Tests.Platform;

/// <summary>
/// The exit statuses have one source, the kernel's <see cref="ExitCode"/> (compiled into these tests):
/// docs/exit-status.md lists exactly its values with their statuses (the boot tests' <see cref="QemuResult"/> constants
/// are derived from it in code).
/// </summary>
public class ExitStatusTableTests
{
    [Fact]
    public void DocTable_ListsExactlyTheKernelsExitCodes()
    {
        var rows = Regex.Matches(File.ReadAllText(Path.Combine(QemuBoot.RepoRoot, "docs/exit-status.md")), @"^\| 0x([0-9a-fA-F]+) \| (\d+) \|", RegexOptions.Multiline)
            .Select(m => (Value: Convert.ToUInt32(m.Groups[1].Value, 16), Status: int.Parse(m.Groups[2].Value)))
            .ToList();
        var codes = Enum.GetValues<ExitCode>().Select(c => (Value: (uint)c, Status: QemuResult.StatusOf(c))).ToList();
        Assert.Equal(codes.OrderBy(c => c.Value), rows.OrderBy(r => r.Value));
        Assert.Equal(rows.Count, rows.Select(r => r.Value).Distinct().Count());
    }
}
