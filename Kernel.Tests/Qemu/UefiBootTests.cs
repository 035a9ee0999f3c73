using System.Globalization;
using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Qemu;

/// <summary>
/// The hybrid ISO under UEFI firmware (OVMF, q35): GRUB's EFI image loads the kernel with multiboot2,
/// the shell answers over serial and `halt` ends the machine. OVMF boots take several seconds under
/// TCG, so the suite keeps to a handful of them.
/// </summary>
public class UefiBootTests
{
    private readonly ITestOutputHelper _output;

    public UefiBootTests(ITestOutputHelper output) => _output = output;

    private QemuResult Boot(QemuBoot boot)
    {
        QemuResult result = boot.Run();
        _output.WriteLine(result.ToString());
        return result;
    }

    /// <summary>
    /// Typed at the prompt (an ISO boot's command line is the one in grub.cfg): the memory map is the
    /// EFI one (efimap lists as many descriptors as the banner counted); meminfo's totals are the
    /// banner's usable RAM and add up, with RAM above 4 GiB and over two nodes; OVMF keeps at most
    /// 16 MiB of what QEMU was given.
    /// </summary>
    [Theory]
    [InlineData("1G", 1)]
    [InlineData("1G", 2)]
    [InlineData("6G", 1)]
    [InlineData("6G", 2)]
    public void Ovmf_BootsToTheShell_EfiMapUsed_MeminfoAddsUp_HaltExits33(string memory, int nodes)
    {
        QemuResult result = Boot(new QemuBoot { Uefi = true, Machine = "q35", Memory = memory, Nodes = nodes, Cpus = Math.Max(nodes, 1), Input = "efimap\rmeminfo\rhalt\r" });
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        BootTests.AssertContains(result, "loader:   multiboot2 (GRUB");
        Match map = Regex.Match(result.Console, @"map:      EFI memory map \(multiboot2 tag 17\): (\d+) descriptors, (\d+) entries once joined");
        Assert.True(map.Success, "the EFI map was not used\n" + result);
        BootTests.AssertContains(result, $"\n{map.Groups[1].Value} descriptors of 48 bytes, {map.Groups[2].Value} map entries once joined");
        Assert.Equal(int.Parse(map.Groups[1].Value), Regex.Matches(result.Console, @"^  0x[0-9a-f]{12}-0x[0-9a-f]{12} \w+ \(\d+\) attr 0x[0-9a-f]+ -> ", RegexOptions.Multiline).Count);
        Assert.DoesNotContain("memmap: ", result.Console);   // no unknown types, nothing the sanitizer had to fix
        if (nodes > 1)
            BootTests.AssertContains(result, $"numa:     {nodes} nodes (SRAT)");
        if (QemuBoot.ParseSize(memory) > 3L << 30)
            BootTests.AssertContains(result, "0x000100000000-");
        BootTests.AssertContains(result, "; sums add up");
        long usable = BootTests.UsablePages(result) * 4096;
        long given = QemuBoot.ParseSize(memory);
        Assert.True(usable <= given && usable >= given - (16L << 20), $"usable {usable} vs -m {given}\n{result}");
        Match total = Regex.Match(result.Console, @"MemTotal \(usable RAM\): +(\d+) kB");
        Assert.True(total.Success, "meminfo did not answer\n" + result);
        Assert.Equal(usable / 1024, long.Parse(total.Groups[1].Value, CultureInfo.InvariantCulture));
        Assert.Matches(@"Sum: pools \+ reserved = (\d+) kB, usable = \1 kB: adds up", result.Console);
        BootTests.AssertContains(result, "pk> halt\r\nhalting");
    }
}
