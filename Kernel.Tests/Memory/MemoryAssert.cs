using PoolKernel.Memory;
using Xunit;

namespace PoolKernel.Tests.Memory;

/// <summary>Assertions shared by the memory tests.</summary>
public static unsafe class MemoryAssert
{
    /// <summary>The owner of requests that leave <see cref="AllocRequest.Owner"/> at its zero value (Any, InPool, Dma): what their frees name.</summary>
    public const byte DefaultOwner = 0;

    public static string Describe(InvariantReport r) =>
        $"{r.Code} at pfn 0x{r.Pfn.Value:x} pool {r.Pool.Value} order {r.Order}: expected {r.Expected}, actual {r.Actual}";

    /// <summary>The checker finds nothing broken.</summary>
    /// <summary>
    /// The checker is clean: the bounded one (<see cref="PhysicalMemory.Check"/>, realtime pools in sections), with no
    /// realtime pool left "busy, not checked" (callers of this check a quiet instance), and, when there is a realtime
    /// pool, the full one under every lock too (it also compares the cached frames with the caches' entries).
    /// </summary>
    public static void Consistent(PhysicalMemory* pm)
    {
        InvariantReport report = pm->Check();
        Assert.True(report.IsOk, Describe(report));
        Assert.True(report.NotChecked.IsEmpty, "a realtime pool was busy, not checked, on a quiet instance");
        if (!HasRealtimePool(pm))
            return;
        ulong state = pm->LockAll();
        InvariantReport full = pm->CheckLocked();
        pm->UnlockAll(state);
        Assert.True(full.IsOk, Describe(full));
    }

    /// <summary>True when a live pool of <paramref name="pm"/> is realtime.</summary>
    public static bool HasRealtimePool(PhysicalMemory* pm)
    {
        for (PoolId id = pm->FirstPool(); !id.IsNone; id = pm->NextPool(id))
            if (pm->GetPoolProperties(id, out PoolProperties props) == MemoryStatus.Ok && (props.Flags & PoolFlags.Realtime) != 0)
                return true;
        return false;
    }

    public static void Status(MemoryStatus expected, MemoryStatus actual) => Assert.Equal(expected, actual);

    /// <summary>A call was refused with <paramref name="expected"/> and no metadata byte changed.</summary>
    public static void Refused(HostPhysicalMemory host, MemoryStatus expected, Func<MemoryStatus> call)
    {
        byte[] before = host.Snapshot();
        MemoryStatus status = call();
        Assert.Equal(expected, status);
        Assert.True(before.AsSpan().SequenceEqual(host.Snapshot()), $"refused call ({status}) changed the metadata");
        Consistent(host.Memory);
    }

    /// <summary>Every live pool's free blocks per order, like /proc/buddyinfo.</summary>
    public static ulong[][] BuddyInfo(PhysicalMemory* pm)
    {
        var rows = new List<ulong[]>();
        for (PoolId id = pm->FirstPool(); !id.IsNone; id = pm->NextPool(id))
        {
            var row = new ulong[pm->MaxOrder + 1];
            for (int o = 0; o <= pm->MaxOrder; o++)
                row[o] = pm->FreeBlocks(id, new Order(o));
            rows.Add(row);
        }
        return rows.ToArray();
    }

    public static string NameOf(in PoolProperties props)
    {
        var chars = new char[props.Name.Length];
        for (int i = 0; i < chars.Length; i++)
            chars[i] = (char)props.Name[i];
        return new string(chars);
    }

    public static PoolId FindPool(PhysicalMemory* pm, string name)
    {
        for (PoolId id = pm->FirstPool(); !id.IsNone; id = pm->NextPool(id))
        {
            pm->GetPoolProperties(id, out PoolProperties p);
            if (NameOf(p) == name)
                return id;
        }
        return PoolId.None;
    }
}
