using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace PoolKernel.Tests.Qemu;

/// <summary>
/// Containers at boot (docs/containers.md): created from the command line (bad tokens refused with
/// one line each, an unknown pool refused when applied), listed, created and destroyed from the
/// shell, and the shell acting as a container with <c>as</c>: quota and permissions refused in the
/// allocator's words, stress as a container checked clean. Every scripted command's line is asserted.
/// </summary>
public class ContainerBootTests
{
    private readonly ITestOutputHelper _output;

    public ContainerBootTests(ITestOutputHelper output) => _output = output;

    private static void Line(QemuResult result, string pattern)
    {
        Assert.True(result.Lines.Any(l => Regex.IsMatch(l, "^" + pattern + "$")), $"no line matching /{pattern}/\n{result}");
    }

    /// <summary>The <paramref name="line"/>-th line after the prompt line of <paramref name="command"/> (its <paramref name="occurrence"/>-th run) matches <paramref name="pattern"/>.</summary>
    private static void Reply(QemuResult result, string command, string pattern, int occurrence = 0, int line = 1)
    {
        string answer = Line(result, command, occurrence, line);
        Assert.True(Regex.IsMatch(answer, "^" + pattern + "$"), $"'{command}' answered '{answer}', not /{pattern}/\n{result}");
    }

    [Fact]
    public void ContainersFromTheCommandLineAndTheShell_AndTheShellAsAContainer()
    {
        const string Run = "containers;as web alloc 3;as web alloc 0 pool 0;as db alloc 9;as db alloc 0;as nosuch alloc 0;as web;"
            + "container create tmp:quota=64K;as tmp alloc 4;as tmp alloc 0;container create tmp:quota=1M;container create q:quota=1M,prio=2;"
            + "container create r:quota=1M,pools=nosuch;containers;container destroy tmp;container destroy tmp;as web stress 2000 3;check;pools;halt";
        QemuResult result = new QemuBoot
        {
            Machine = "q35",
            Memory = "512M",
            KernelCommandLine = "container=web:quota=8M,guarantee=2M,pools=node0-dma32 container=db:quota=1M "
                + "container=Bad:quota=1M container=x:quota=1M,guarantee=2M container=y:quota=1M,pools=nosuch run=\"" + Run + "\"",
            Timeout = TimeSpan.FromSeconds(120),
        }.Run();
        _output.WriteLine(result.ToString());
        BootTests.AssertStatus(result, QemuResult.CleanHalt);

        // The command line: the bad tokens, one line each; the good ones created (web's guarantee is pool 2, after node0-dma and node0-dma32).
        BootTests.AssertContains(result, "cmdline: 'container=Bad:quota=1M': container name must be 1..15 of a-z 0-9 _ -; container ignored");
        BootTests.AssertContains(result, "cmdline: 'container=x:quota=1M,guarantee=2M': container guarantee is above its quota; container ignored (guarantee 2097152 B, quota 1048576 B)");
        BootTests.AssertContains(result, "container web: owner 16, quota 2048 pages, guarantee 512 pages (pool 2), pools node0-dma32");
        BootTests.AssertContains(result, "container db: owner 17, quota 256 pages, guarantee 0 pages, pools all");
        BootTests.AssertContains(result, "container y: refused: no pool named nosuch");

        // containers (first time: nothing held yet).
        Line(result, @"owner name +quota +guarantee held +peak +above +fail: quota perm oom other");
        Line(result, @"16 +web +2048 +512 +0 +0 +0 +0 +0 +0 +0");
        Line(result, @"17 +db +256 +0 +0 +0 +0 +0 +0 +0 +0");
        // as: allocations in the container's name, refused by its permissions and its quota.
        Reply(result, "as web alloc 3", @"alloc: pfn 0x[0-9a-f]+ address 0x[0-9a-f]+ order 3 \(\d+ cycles\)");
        Reply(result, "as web alloc 0 pool 0", "alloc: owner not allowed in the pool");
        Reply(result, "as db alloc 9", "alloc: over the container's quota");
        Reply(result, "as db alloc 0", @"alloc: pfn 0x[0-9a-f]+ address 0x[0-9a-f]+ order 0 \(\d+ cycles\)");
        Reply(result, "as nosuch alloc 0", "as: no container named nosuch");
        Reply(result, "as web", @"usage: as NAME CMD\.\.\.");
        // container create / destroy.
        Reply(result, "container create tmp:quota=64K", "container tmp: owner 18, quota 16 pages, guarantee 0 pages, pools all");
        Reply(result, "as tmp alloc 4", @"alloc: pfn 0x[0-9a-f]+ address 0x[0-9a-f]+ order 4 \(\d+ cycles\)");
        Reply(result, "as tmp alloc 0", "alloc: over the container's quota");
        Reply(result, "container create tmp:quota=1M", "container tmp: refused: a container of that name exists");
        Reply(result, "container create q:quota=1M,prio=2", "container: refused: container option must be guarantee=SIZE or pools=P1\\+P2, once each; container ignored");
        Reply(result, "container create r:quota=1M,pools=nosuch", "container r: refused: no pool named nosuch");
        Line(result, @"16 +web +2048 +512 +8 +8 +0 +0 +1 +0 +0");
        Line(result, @"17 +db +256 +0 +1 +1 +1 +1 +0 +0 +0");
        Line(result, @"18 +tmp +16 +0 +16 +16 +16 +1 +0 +0 +0");
        Line(result, @"containers: 3 \(sizes in pages\)");
        Reply(result, "container destroy tmp", "container tmp: destroyed, 16 pages given back");
        Reply(result, "container destroy tmp", "container: no container named tmp", 1);
        // stress as web: its quota refuses some, everything is given back, the checkers agree.
        BootTests.AssertContains(result, "stress: 2000 operations (seed 3)");
        BootTests.AssertContains(result, "stress: ok, all memory returned, pool and heap checkers clean");
        BootTests.AssertContains(result, "check: ok");
        // The guarantee pool: owner and owner mask web's, priority one above its donor.
        Line(result, @" +2 web +0 +0x00001000000-0x00100000000 +- +1 +16 +2048 +\d+ +1");
    }

    /// <summary>
    /// Both CPUs run stress as one container at once: the quota stops them together (the peak is the
    /// quota exactly, never above), every refusal is counted as the quota's, all is given back and
    /// the checkers (step 9 included, during and after) are clean.
    /// </summary>
    [Fact]
    public void StressOnEveryCpuAsOneContainer_StopsAtItsQuota()
    {
        QemuResult result = new QemuBoot
        {
            Machine = "q35",
            Memory = "512M",
            Cpus = 2,
            KernelCommandLine = "container=web:quota=4M,guarantee=2M run=\"as web stress 20000 5;containers;check;halt\"",
            Timeout = TimeSpan.FromSeconds(180),
        }.Run();
        _output.WriteLine(result.ToString());
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        BootTests.AssertContains(result, "container web: owner 16, quota 1024 pages, guarantee 512 pages (pool 2), pools all");
        Line(result, @"stress: 20000 operations \(seed 5\) on each of 2 CPUs: \d+ allocs \((\d+) refused\).*");
        BootTests.AssertContains(result, "stress: ok, all memory returned, pool and heap checkers clean");
        Match refused = Regex.Match(result.Console, @"on each of 2 CPUs: \d+ allocs \((\d+) refused\)");
        Line(result, @"16 +web +1024 +512 +0 +1024 +0 +" + refused.Groups[1].Value + " +0 +0 +0");
        Reply(result, "check", @"check: ok \(.*\)");
    }

    /// <summary>
    /// Pressure from the kernel's out-of-memory path (docs/containers.md "Pressure"): web (guarantee 512
    /// pages) and db (none) keep reclaimable cache pages; <c>exhaust</c> runs the kernel out of memory, and
    /// what each holds above its guarantee is taken back through its hook (web down to its guarantee
    /// exactly, db to nothing), never the guarantee itself; the machine and the checker are clean after.
    /// </summary>
    [Fact]
    public void OutOfMemory_TakesBackWhatContainersHoldAboveTheirGuarantees_NeverTheGuarantee()
    {
        const string Run = "container cache web 1000;container cache db 300;containers;exhaust;containers;"
            + "container cache nosuch 3;container destroy web;check";
        QemuResult result = new QemuBoot
        {
            Machine = "q35",
            Memory = "512M",
            KernelCommandLine = "container=web:quota=64M,guarantee=2M container=db:quota=8M run=\"" + Run + "\"",
            Timeout = TimeSpan.FromSeconds(120),
        }.Run();
        _output.WriteLine(result.ToString());
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        Reply(result, "container cache web 1000", "container web: 1000 pages kept as reclaimable cache");
        Reply(result, "container cache db 300", "container db: 300 pages kept as reclaimable cache");
        // Before: web holds its guarantee and 488 above it, db 300 (all above its zero guarantee).
        Line(result, @"16 +web +16384 +512 +1000 +1000 +488 +0 +0 +0 +0");
        Line(result, @"17 +db +2048 +0 +300 +300 +300 +0 +0 +0 +0");
        Line(result, "cache web: 1000 pages, 0 taken back under pressure");
        Line(result, "cache db: 300 pages, 0 taken back under pressure");
        Line(result, @"exhaust: out of memory after taking \d+ pages: .*");
        Line(result, @"exhaust: returned \d+ pages; free pages \d+ \(before \d+\)");
        // After: everything above the guarantees went back, the guarantee stayed.
        Line(result, @"16 +web +16384 +512 +512 +1000 +0 +0 +0 +0 +0");
        Line(result, @"17 +db +2048 +0 +0 +300 +0 +0 +0 +0 +0");
        Line(result, "cache web: 512 pages, 488 taken back under pressure");
        Line(result, "cache db: 0 pages, 300 taken back under pressure");
        Reply(result, "container cache nosuch 3", "container: no container named nosuch");
        Reply(result, "container destroy web", "container web: destroyed, 512 pages given back");
        Reply(result, "check", @"check: ok \(.*\)");
    }

    /// <summary>
    /// Heap arenas (docs/containers.md "Heap arenas"): raw heap blocks taken while acting as a container
    /// come from its own arena, whose pages (metadata included) are charged to it and stop at its quota
    /// (tiny: 16 pages, the arena's metadata and the blocks that fit, the next refused as the quota's); heaptest's
    /// managed objects come from the arena too (web: two slabs of them stay until a collection; tiny: its
    /// quota refuses the first object, which ends the command); the shell's own heaptest charges no container;
    /// destroying the containers gives every page back.
    /// </summary>
    [Fact]
    public void RawHeapBlocksAsAContainer_ComeFromItsArena_ChargedAndLimited_GivenBackOnDestroy()
    {
        const string Run = "heaptest 4 4096;containers;as web heaptest 16 4096;containers;as tiny heaptest 4 4096;containers;"
            + "container destroy web;container destroy tiny;check";
        QemuResult result = new QemuBoot
        {
            Machine = "q35",
            Memory = "512M",
            KernelCommandLine = "container=web:quota=64M container=tiny:quota=64K run=\"" + Run + "\"",
            Timeout = TimeSpan.FromSeconds(120),
        }.Run();
        _output.WriteLine(result.ToString());
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        Reply(result, "heaptest 4 4096", @"heaptest: 4 x 4096 bytes from the CPU on node 0: by node 0=4, failed 0; managed objects on the local node 4/4");
        // The shell's heaptest charged no one.
        Reply(result, "containers", "16 +web +16384 +0 +0 +0 +0 +0 +0 +0 +0", 0, 2);
        Reply(result, "containers", "17 +tiny +16 +0 +0 +0 +0 +0 +0 +0 +0", 0, 3);
        Reply(result, "as web heaptest 16 4096", @"heaptest: 16 x 4096 bytes from the CPU on node 0: by node 0=16, failed 0; managed objects on the local node 16/16");
        // web's arena: its metadata (M pages) and the two slabs of heaptest's objects (the array, the 16 payloads) stay
        // until a collection; the 16 blocks came and went (peak M + 2 + 16).
        Match web = Regex.Match(Line(result, "containers", 1, 2), @"^16 +web +16384 +0 +(\d+) +(\d+) +\d+ +0 +0 +0 +0$");
        Assert.True(web.Success, result.ToString());
        int metadata = int.Parse(web.Groups[1].Value) - 2;
        Assert.True(metadata > 0);
        Assert.Equal(metadata + 2 + 16, int.Parse(web.Groups[2].Value));
        // tiny: 16 pages hold the same metadata and 16 - M blocks; the rest refused by its quota, then its first
        // managed object (the array of 4): the command ends at the shell's recovery point, its blocks given back.
        int fits = 16 - metadata;
        Assert.True(fits is > 0 and < 4, $"metadata {metadata} pages: the test needs 1..3 blocks to fit tiny's 16 pages");
        Reply(result, "as tiny heaptest 4 4096", "heap: an object of 56 bytes for container tiny refused: over the container's quota");
        Reply(result, "as tiny heaptest 4 4096", "out of memory: command ended", 0, 2);
        // The collection tried before that refusal took web's garbage back too: web holds its metadata only.
        Reply(result, "containers", $@"16 +web +16384 +0 +{metadata} +{metadata + 18} +{metadata} +0 +0 +0 +0", 2, 2);
        Reply(result, "containers", $@"17 +tiny +16 +0 +{metadata} +16 +{metadata} +[1-9]\d* +0 +0 +0", 2, 3);
        Reply(result, "container destroy web", $"container web: destroyed, {metadata} pages given back");
        Reply(result, "container destroy tiny", $"container tiny: destroyed, {metadata} pages given back");
        Reply(result, "check", @"check: ok \(.*\)");
    }

    /// <summary>
    /// Managed objects as a container (docs/containers.md "Heap arenas"): <c>as web objects 1000 256</c> makes them in
    /// web's arena, so its held pages rise by their slabs and runs; linked between two batches in the kernel's heap
    /// (kernel heap to arena and back), every pattern is intact after a collection; a destroy is refused while they are referenced
    /// (naming the live objects and bytes), nothing changed; after <c>objects drop</c> and <c>gc</c> web holds only its
    /// arena's metadata (M pages); tiny's 16-page quota refuses an object, which ends that command cleanly (one line
    /// naming the quota, the shell's out-of-memory line) and the shell goes on, holding nothing; a destroy after
    /// dropping collects first and gives back every page; <c>as gcs gcstress 64 2</c> keeps its checksummed live set intact
    /// in gcs's arena through the threshold collections; the checkers are clean.
    /// </summary>
    [Fact]
    public void ManagedObjectsAsAContainer_ComeFromItsArena_ChargedLimitedCollected_DestroyAdoptsTheSurvivorsAndGivesEveryPageBack()
    {
        const string Run = "containers;objects 10 64;as web objects 1000 256;objects 20 64;containers;container destroy web;containers;gc;objects check;"
            + "objects drop;gc;"
            + "as tiny objects 100 256;containers;objects drop;container destroy tiny;"
            + "container create g:quota=64M,guarantee=2M;as g objects 10 64;container destroy g;objects drop;container destroy g;containers;"
            + "as gcs gcstress 64 2;containers;container destroy gcs;check";
        QemuResult result = new QemuBoot
        {
            Machine = "q35",
            Memory = "512M",
            KernelCommandLine = "container=web:quota=64M container=tiny:quota=64K container=gcs:quota=64M run=\"" + Run + "\"",
            Timeout = TimeSpan.FromSeconds(180),
        }.Run();
        _output.WriteLine(result.ToString());
        BootTests.AssertStatus(result, QemuResult.CleanHalt);
        Reply(result, "containers", "16 +web +16384 +0 +0 +0 +0 +0 +0 +0 +0", 0, 2);
        Reply(result, "containers", "17 +tiny +16 +0 +0 +0 +0 +0 +0 +0 +0", 0, 3);
        // Three batches, each linked to the one before: the kernel heap's (10), web's arena's (1000), the kernel heap's (20).
        Reply(result, "objects 10 64", "objects: 10 x 64 bytes held, in the kernel's heap; 1 batch held");
        Reply(result, "as web objects 1000 256", "objects: 1000 x 256 bytes held, in web's heap arena; 2 batches held");
        Reply(result, "objects 20 64", "objects: 20 x 64 bytes held, in the kernel's heap; 3 batches held");
        // 1000 cells of 320 bytes (24 + 256 asked) on 12 a page, and the array of 1000 references (a two-page run).
        Match held = Regex.Match(Line(result, "containers", 1, 2), @"^16 +web +16384 +0 +(\d+) +(\d+) +\d+ +0 +0 +0 +0$");
        Assert.True(held.Success, result.ToString());
        int withObjects = int.Parse(held.Groups[1].Value);
        Assert.Equal(withObjects, int.Parse(held.Groups[2].Value));
        // The destroy adopts the 1001 objects the kernel still references (their slabs and run re-owned to the kernel's heap)
        // and gives back everything else web held: its arena's metadata. Web is gone.
        Match destroyed = Regex.Match(Line(result, "container destroy web", 0, 1),
            @"^container web: destroyed, (\d+) pages given back; 1001 live managed objects \(328192 bytes, (\d+) pages\) adopted by the kernel's heap$");
        Assert.True(destroyed.Success, result.ToString());
        int metadata = int.Parse(destroyed.Groups[1].Value), adopted = int.Parse(destroyed.Groups[2].Value);
        Assert.Equal(withObjects, metadata + adopted);
        Assert.True(metadata > 0 && adopted >= 1000 / 12 + 2, $"web held {withObjects} pages with the objects: {metadata} given back, {adopted} adopted");
        Assert.True(metadata < 16, $"the arena's metadata ({metadata} pages) must leave tiny's 16 pages room for a slab");
        Reply(result, "containers", "17 +tiny +16 +0 +0 +0 +0 +0 +0 +0 +0", 2, 2);
        Reply(result, "containers", @"containers: 2 \(sizes in pages\)", 2, 4);
        // A collection with the kernel heap -> adopted objects -> kernel heap chain: every batch's pattern intact after it,
        // and once dropped the kernel heap's collector takes the adopted objects back like its own.
        Reply(result, "gc", @"gc: freed \d+ objects \(\d+ bytes\); live .*");
        Reply(result, "objects check", @"objects: 3 batches \(1030 objects\), every pattern intact");
        Reply(result, "objects drop", @"objects: 3 batches \(1030 objects\) dropped; the next collection takes them back");
        Match freed = Regex.Match(Line(result, "gc", 1, 1), @"^gc: freed (\d+) objects \(\d+ bytes\); live .*; heap pages (\d+) -> (\d+);.*$");
        Assert.True(freed.Success && int.Parse(freed.Groups[1].Value) >= 1033, result.ToString());
        Assert.True(int.Parse(freed.Groups[2].Value) - int.Parse(freed.Groups[3].Value) >= adopted, result.ToString());
        // tiny: its quota refuses an object; the command ends, the shell goes on and holds nothing of it.
        Reply(result, "as tiny objects 100 256", @"heap: an object of \d+ bytes for container tiny refused: over the container's quota");
        Reply(result, "as tiny objects 100 256", "out of memory: command ended", 0, 2);
        Reply(result, "containers", @"17 +tiny +16 +0 +\d+ +16 +\d+ +[1-9]\d* +0 +0 +0", 3, 2);
        Reply(result, "objects drop", "objects: none held", 1);
        // Destroy collects first: tiny's garbage goes, then everything it held; nothing was left to adopt.
        Reply(result, "container destroy tiny", $"container tiny: destroyed, {metadata} pages given back");
        // g's objects come from its guarantee pool, which admits g alone: the kernel's heap cannot adopt them, the destroy is
        // refused with nothing changed; once they are dropped it goes through.
        Reply(result, "container create g:quota=64M,guarantee=2M", @"container g: owner \d+, quota 16384 pages, guarantee 512 pages \(pool \d+\), pools all");
        Reply(result, "as g objects 10 64", "objects: 10 x 64 bytes held, in g's heap arena; 1 batch held");
        Reply(result, "container destroy g", @"container g: refused: its heap arena holds 11 live managed objects \(\d+ bytes\) the kernel's heap cannot adopt \(owner not allowed in the pool\); drop the references and destroy again");
        Reply(result, "objects drop", @"objects: 1 batch \(10 objects\) dropped; the next collection takes them back", 2);
        Reply(result, "container destroy g", @"container g: destroyed, \d+ pages given back", 1);
        Reply(result, "containers", "18 +gcs +16384 +0 +0 +0 +0 +0 +0 +0 +0", 4, 2);
        Reply(result, "containers", @"containers: 1 \(sizes in pages\)", 4, 3);
        // gcstress as a container: its objects (64 MiB of them, a checksummed live set and 2 MiB more in an object graph)
        // live in gcs's arena through every threshold collection, intact; the last collection leaves the metadata only.
        Reply(result, "as gcs gcstress 64 2", @"gcstress: 64 MiB \(2 MiB extra live\) in \d+ objects, ([2-9]|\d\d+) collections .*; heap check ok; live set 64/64 intact");
        Match gcs = Regex.Match(Line(result, "containers", 5, 2), $@"^18 +gcs +16384 +0 +{metadata} +(\d+) +{metadata} +0 +0 +0 +0$");
        Assert.True(gcs.Success && int.Parse(gcs.Groups[1].Value) > 64 * 256 / 8, result.ToString());
        Reply(result, "container destroy gcs", $"container gcs: destroyed, {metadata} pages given back");
        Reply(result, "check", @"check: ok \(.*\)");
        Reply(result, "check", "heap check: ok", 0, 2);
    }

    /// <summary>The <paramref name="line"/>-th line after the <paramref name="occurrence"/>-th prompt line of <paramref name="command"/>.</summary>
    private static string Line(QemuResult result, string command, int occurrence, int line)
    {
        string[] lines = result.Lines;
        int at = -1;
        for (int seen = 0; seen <= occurrence; seen++)
            at = Array.IndexOf(lines, "pk> " + command, at + 1);
        Assert.True(at >= 0 && at + line < lines.Length, $"no prompt line for '{command}'\n{result}");
        return lines[at + line];
    }
}
