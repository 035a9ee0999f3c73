using System.Text.RegularExpressions;
using PoolKernel.Tests.Qemu;
using Xunit;

namespace PoolKernel.Tests.Drivers;

/// <summary>
/// The drivers' platform seam (docs/drivers.md): Kernel.Drivers reaches the hardware only through
/// its own Kernel.Drivers/Platform declarations, never through the kernel's Cpu class. (That the host
/// library compiles no file using the seam needs no test: the seam is not in the host build.)
/// </summary>
public class DriverSeamTests
{
    private static readonly string s_drivers = Path.Combine(QemuBoot.RepoRoot, "Kernel.Drivers");

    private static IEnumerable<string> Sources()
        => Directory.GetFiles(s_drivers, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}")
                && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"));

    [Fact]
    public void Drivers_UseNoKernelPlatformDirectly()
    {
        var bad = Sources()
            .Where(f => Regex.IsMatch(File.ReadAllText(f), @"\bPoolKernel\.Platform\b|\bCpu\."))
            .Select(f => Path.GetRelativePath(s_drivers, f))
            .ToList();
        Assert.True(bad.Count == 0, "port I/O or CPU instructions outside Kernel.Drivers/Platform: " + string.Join(", ", bad));
    }
}
