using System.Runtime.InteropServices;
using PoolKernel.Memory;

namespace PoolKernel.Memory.Testing;

/// <summary>
/// A host stand-in for an owner of movable memory (the kernel's movable area): virtual pages mapped
/// to allocated blocks, each block's "contents" a checksum kept per frame, and a
/// <see cref="FrameMover"/> that copies the contents and rewrites the mapping. <see cref="Verify"/>
/// says whether every mapping still points at an allocated block of the owner holding the contents
/// written for it. Blocks can be pinned (the mover declines them); <see cref="DeclineMoves"/> makes
/// Move itself refuse. <see cref="AfterMove"/> runs inside Move, e.g. the checker after every step.
/// </summary>
public sealed unsafe class HostMapping : IDisposable
{
    private readonly PhysicalMemory* _pm;
    private GCHandle _self;
    public byte Owner { get; }
    /// <summary>Virtual page number -> (block, order).</summary>
    public readonly Dictionary<ulong, (Pfn pfn, int order)> Map = new();
    /// <summary>Block head -> virtual page (the reverse map a mover needs).</summary>
    private readonly Dictionary<ulong, ulong> _reverse = new();
    /// <summary>Frame -> contents checksum.</summary>
    private readonly Dictionary<ulong, ulong> _contents = new();
    public readonly HashSet<ulong> Pinned = new();
    public bool DeclineMoves { get; set; }
    public Action<Pfn, Pfn, int> AfterMove { get; set; }
    public ulong Moves { get; private set; }
    private ulong _nextPage = 1;

    public HostMapping(PhysicalMemory* pm, byte owner)
    {
        _pm = pm;
        Owner = owner;
        _self = GCHandle.Alloc(this);
        FrameMover mover = default;
        mover.Context = (void*)GCHandle.ToIntPtr(_self);
        mover.CanMove = &CanMove;
        mover.Move = &Move;
        MemoryStatus s = pm->RegisterMover(owner, mover);
        if (s != MemoryStatus.Ok)
            throw new InvalidOperationException($"RegisterMover: {s}");
    }

    private static HostMapping Of(void* context) => (HostMapping)GCHandle.FromIntPtr((IntPtr)context).Target;

    private static bool CanMove(void* context, Pfn pfn, int order)
    {
        HostMapping m = Of(context);
        return m._reverse.ContainsKey(pfn.Value) && !m.Pinned.Contains(pfn.Value);
    }

    private static bool Move(void* context, Pfn from, Pfn to, int order)
    {
        HostMapping m = Of(context);
        if (m.DeclineMoves || !m._reverse.TryGetValue(from.Value, out ulong page))
            return false;
        for (ulong i = 0; i < 1UL << order; i++)
        {
            m._contents[to.Value + i] = m._contents[from.Value + i];
            m._contents.Remove(from.Value + i);
        }
        m._reverse.Remove(from.Value);
        m._reverse[to.Value] = page;
        m.Map[page] = (to, order);
        m.Moves++;
        m.AfterMove?.Invoke(from, to, order);
        return true;
    }

    private static ulong Checksum(ulong page, ulong i) => (page * 0x9E3779B97F4A7C15UL) ^ (i + 1);

    /// <summary>Allocates a movable block of <paramref name="order"/> in <paramref name="request"/>'s terms (owner and class set here) and maps it; the status.</summary>
    public MemoryStatus Allocate(int order, AllocRequest request, bool compacting, out ulong page)
    {
        page = 0;
        request.Owner = Owner;
        request.Mobility = MobilityClass.Movable;
        MemoryStatus s = compacting ? _pm->AllocateCompacting(new Order(order), request, out Pfn pfn)
                                    : _pm->Allocate(new Order(order), request, out pfn);
        if (s != MemoryStatus.Ok)
            return s;
        page = _nextPage++;
        Map[page] = (pfn, order);
        _reverse[pfn.Value] = page;
        for (ulong i = 0; i < 1UL << order; i++)
            _contents[pfn.Value + i] = Checksum(page, i);
        return s;
    }

    public MemoryStatus Free(ulong page)
    {
        (Pfn pfn, int order) = Map[page];
        MemoryStatus s = _pm->Free(pfn, new Order(order), Owner);
        if (s != MemoryStatus.Ok)
            return s;
        Map.Remove(page);
        _reverse.Remove(pfn.Value);
        for (ulong i = 0; i < 1UL << order; i++)
            _contents.Remove(pfn.Value + i);
        return s;
    }

    /// <summary>Null when every mapping points at an allocated block of this owner with the contents written for it; else what is wrong.</summary>
    public string Verify()
    {
        foreach (var (page, (pfn, order)) in Map)
        {
            if (_pm->KindOf(pfn, out Order o) != FrameKind.Allocated || o.Value != order)
                return $"page {page}: pfn 0x{pfn.Value:x} is {_pm->KindOf(pfn, out _)} of order {o.Value}, mapped as order {order}";
            if (_pm->OwnerOf(pfn) != Owner)
                return $"page {page}: pfn 0x{pfn.Value:x} owned by {_pm->OwnerOf(pfn)}";
            for (ulong i = 0; i < 1UL << order; i++)
                if (!_contents.TryGetValue(pfn.Value + i, out ulong c) || c != Checksum(page, i))
                    return $"page {page}: frame 0x{pfn.Value + i:x} lost its contents";
        }
        if (_reverse.Count != Map.Count)
            return $"reverse map has {_reverse.Count} entries, map {Map.Count}";
        return null;
    }

    public void Dispose()
    {
        _pm->UnregisterMover(Owner);
        if (_self.IsAllocated)
            _self.Free();
    }
}
