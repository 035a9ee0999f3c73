using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// The pool-choice order (<see cref="PoolChoice"/>) remembered for the last few request shapes:
/// (order, preferred node, owner, mobility class, flags, DMA bits) and the request's other address
/// fields as given (lowest, highest, alignment, boundary), so a hit needs no rule resolving; the
/// entry keeps the resolved rules for the exit check. Qualification and the order depend on
/// nothing else of a request. For such a shape the order depends only on the pool table (properties and which slots are
/// live) and the node distances, so an entry stays right until a pool is created or destroyed,
/// which bumps <see cref="PhysicalMemory"/>'s pool generation and so outdates every entry at once
/// (refused calls bump nothing: they leave the table as it was). Entries are written only by
/// successful allocations.
/// An entry holds the first <see cref="Ranked"/> qualifying pools in order (<see cref="Complete"/>
/// when that is all of them, else the sort key of the last, from which the walk goes on). A hit
/// skips the passes over all live pools; the walk tries the remembered pools in order and skips, with
/// one load each, those that have no free frame at all (no cached frame, no listed block of the
/// order or above: <see cref="Pool.ListedSlots"/>), so a remembered pool that ran dry costs nothing
/// (issue 12: at 90% fill the empty first pool was searched on every request). Four entries,
/// direct-mapped: the kernel heap asks with a handful of shapes (slab pages and large objects, per
/// node), drivers with a DMA window or two.
/// In front of the entries, the last request a fast-path lookup found (<see cref="FindRequest"/>): its fields as
/// given and the slot it hit, so a caller that asks again with the same request (a driver's DMA window, the
/// heap's slab pages) compares its fields once and skips packing the shape, hashing it and comparing the entry
/// (issue 12: that lookup was about 100 instructions of every order-0 and order-9 request by pool choice).
/// </summary>
public unsafe struct ChoiceMemo
{
    public const int Entries = 4;
    /// <summary>Pools remembered a shape: default set-up makes at most three a node, so eight cover two nodes' worth.</summary>
    public const int Ranked = 8;

    private fixed ulong _shape[Entries];
    private fixed ulong _lowest[Entries];
    private fixed ulong _highest[Entries];
    private fixed ulong _alignment[Entries];
    private fixed ulong _boundary[Entries];
    /// <summary>The resolved rules of each entry: LowPfn, EndPfn, AlignPages, BoundaryPages.</summary>
    private fixed ulong _rules[Entries * 4];
    /// <summary>
    /// Bit i: the entry's i-th pool implies every rule of the entry (<see cref="Implied"/>), so any block of the
    /// entry's order it hands out, cached ones included, serves without a search or a check.
    /// </summary>
    private fixed byte _implied[Entries];
    private fixed ulong _lastKey[Entries];
    private fixed uint _generation[Entries];
    private fixed byte _count[Entries];
    private fixed byte _complete[Entries];
    private fixed byte _pools[Entries * Ranked];

    /// <summary>
    /// The last request <see cref="FindRequest"/> found, as given (every field <see cref="Find"/> compares; the pool
    /// is not one of them), with its order and the slot of the entry it found. Valid while <see cref="_lastGeneration"/>
    /// is the current pool generation: <see cref="Begin"/> clears it, since the entry it rewrites may be this one, so
    /// a valid last request always names an entry that <see cref="Find"/> would find for it.
    /// </summary>
    private AllocRequest _lastRequest;
    private int _lastOrder;
    private int _lastSlot;
    /// <summary>The generation of the entry <see cref="_lastSlot"/> when the last request found it; 0 (never a generation): none.</summary>
    private uint _lastGeneration;

    /// <summary>The shape of a request as one number (its other address fields are compared apart).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Shape(int order, in AllocRequest request)
    {
        return (ulong)(uint)order | ((ulong)request.PreferredNode << 8) | ((ulong)request.Owner << 16) |
            ((ulong)request.Mobility << 24) | ((ulong)request.Flags << 32) | ((ulong)request.DmaAddressBits << 40);
    }

    /// <summary>The entry slot remembered for (<paramref name="shape"/>, the request's address fields) in <paramref name="generation"/>, or -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly int Find(ulong shape, in AllocRequest request, uint generation)
    {
        int slot = Slot(shape, request);
        return _generation[slot] == generation && _shape[slot] == shape && _lowest[slot] == request.Lowest.Value &&
            _highest[slot] == request.Highest.Value && _alignment[slot] == request.Alignment && _boundary[slot] == request.Boundary ? slot : -1;
    }

    /// <summary>
    /// <see cref="Find"/> for the fast paths: the slot remembered for (<paramref name="order"/>, <paramref name="request"/>)
    /// in <paramref name="generation"/>, or -1. When the request and order are those of the last request found, in
    /// the same generation, the answer is that request's slot without the shape or the entry's key being read
    /// (field compares only); otherwise <see cref="FindAndKeep"/> looks the entry up and keeps the request when it is there.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int FindRequest(int order, in AllocRequest request, uint generation)
    {
        if (_lastGeneration == generation && _lastOrder == order && SameFields(_lastRequest, request))
            return _lastSlot;
        return FindAndKeep(order, request, generation);
    }

    /// <summary>
    /// The miss of <see cref="FindRequest"/>: <see cref="Find"/> by the request's shape, and on a hit the request kept
    /// as the last one found. Apart from the fast paths so their frames hold only the compares.
    /// The last request is written with its generation cleared first and set last, as <see cref="Begin"/> writes an
    /// entry; a CPU's memo is written only by calls on that CPU, which the kernel makes with interrupts off.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private int FindAndKeep(int order, in AllocRequest request, uint generation)
    {
        int slot = Find(Shape(order, request), request, generation);
        if (slot >= 0)
        {
            _lastGeneration = 0;
            _lastRequest = request;
            _lastOrder = order;
            _lastSlot = slot;
            _lastGeneration = generation;
        }
        return slot;
    }

    /// <summary>True when <paramref name="a"/> and <paramref name="b"/> agree in every field <see cref="Find"/> compares (<see cref="Shape"/>'s and the address fields).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool SameFields(in AllocRequest a, in AllocRequest b)
    {
        return a.Lowest.Value == b.Lowest.Value && a.Highest.Value == b.Highest.Value && a.Alignment == b.Alignment &&
            a.Boundary == b.Boundary && a.DmaAddressBits == b.DmaAddressBits && a.PreferredNode == b.PreferredNode &&
            a.Owner == b.Owner && a.Mobility == b.Mobility && a.Flags == b.Flags;
    }

    /// <summary>For the checker: the last request found and its order and slot, and whether it is kept for <paramref name="generation"/>.</summary>
    public readonly bool LastRequest(uint generation, out AllocRequest request, out int order, out int slot)
    {
        request = _lastRequest;
        order = _lastOrder;
        slot = _lastSlot;
        return _lastGeneration != 0 && _lastGeneration == generation;
    }

    /// <summary>Overwrites the last request's slot (tests of the checker).</summary>
    internal void SetLastSlot(int slot) { _lastSlot = slot; }

    /// <summary>The resolved rules of entry <paramref name="slot"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly DmaRules Rules(int slot)
    {
        DmaRules r;
        r.LowPfn = _rules[slot * 4];
        r.EndPfn = _rules[slot * 4 + 1];
        r.AlignPages = _rules[slot * 4 + 2];
        r.BoundaryPages = _rules[slot * 4 + 3];
        return r;
    }

    /// <summary>
    /// True when the entry's <paramref name="i"/>-th pool implies every rule of the entry: every block of the entry's
    /// order that the pool can hand out obeys them (<see cref="DmaRules.ImpliedBy"/>), checked once when the entry was
    /// written. Always true in an entry without rules. Such a pool serves the shape as a named pool serves a
    /// rule-free request (PhysicalMemory.Allocate.cs).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly bool Implied(int slot, int i) { return ((_implied[slot] >> i) & 1) != 0; }

    /// <summary>The order of the requests entry <paramref name="slot"/> remembers (the low byte of its shape, <see cref="Shape"/>).</summary>
    public readonly int OrderOf(int slot) { return (int)(_shape[slot] & 0xFF); }

    /// <summary>Pools remembered in entry <paramref name="slot"/> (0 for an empty entry).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly int Count(int slot) { return _count[slot]; }

    /// <summary>The <paramref name="i"/>-th remembered pool of entry <paramref name="slot"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly int PoolAt(int slot, int i) { return _pools[slot * Ranked + i]; }

    /// <summary>True when the entry holds every qualifying pool; else the walk goes on after <see cref="LastKey"/>.</summary>
    public readonly bool Complete(int slot) { return _complete[slot] != 0; }

    /// <summary>The sort key of the entry's last remembered pool.</summary>
    public readonly ulong LastKey(int slot) { return _lastKey[slot]; }

    /// <summary>
    /// Starts the entry for (shape, window) in <paramref name="generation"/> with no pool; <see cref="Add"/>
    /// appends the order. Returns its slot.
    /// </summary>
    public int Begin(ulong shape, in AllocRequest request, in DmaRules rules, uint generation)
    {
        int slot = Slot(shape, request);
        _lastGeneration = 0; // the last request may name this slot
        _generation[slot] = 0; // outdated while it is rewritten (the checker reads other CPUs' memos)
        _count[slot] = 0;
        _shape[slot] = shape;
        _lowest[slot] = request.Lowest.Value;
        _highest[slot] = request.Highest.Value;
        _alignment[slot] = request.Alignment;
        _boundary[slot] = request.Boundary;
        _rules[slot * 4] = rules.LowPfn;
        _rules[slot * 4 + 1] = rules.EndPfn;
        _rules[slot * 4 + 2] = rules.AlignPages;
        _rules[slot * 4 + 3] = rules.BoundaryPages;
        _complete[slot] = 0;
        _implied[slot] = 0;
        _lastKey[slot] = 0;
        _generation[slot] = generation;
        return slot;
    }

    /// <summary>
    /// Appends <paramref name="pool"/> (sort key <paramref name="key"/>; <paramref name="implied"/>: see
    /// <see cref="Implied"/>) to entry <paramref name="slot"/>; false when it is full.
    /// </summary>
    public bool Add(int slot, int pool, ulong key, bool implied)
    {
        if (_count[slot] == Ranked)
            return false;
        if (implied)
            _implied[slot] |= (byte)(1 << _count[slot]);
        _pools[slot * Ranked + _count[slot]] = (byte)pool;
        _count[slot]++;
        _lastKey[slot] = key;
        return true;
    }

    /// <summary>Marks entry <paramref name="slot"/> as holding every qualifying pool.</summary>
    public void Finish(int slot) { _complete[slot] = 1; }

    /// <summary>Entry <paramref name="slot"/> (0..<see cref="Entries"/> - 1) for the checker: its generation and first pool.</summary>
    public readonly void Entry(int slot, out uint generation, out int pool)
    {
        generation = _generation[slot];
        pool = _pools[slot * Ranked];
    }

    /// <summary>Entry <paramref name="slot"/>'s shape (<see cref="Shape"/>; a container's with the accounted form in its owner byte), for the checker.</summary>
    public readonly ulong ShapeOf(int slot) { return _shape[slot]; }

    /// <summary>Overwrites entry <paramref name="slot"/>'s first pool (tests of the checker).</summary>
    internal void SetPool(int slot, int pool) { _pools[slot * Ranked] = (byte)pool; }

    /// <summary>Marks entry <paramref name="slot"/>'s first pool implied (tests of the checker).</summary>
    internal void SetImplied(int slot) { _implied[slot] |= 1; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Slot(ulong shape, in AllocRequest request)
    {
        ulong h = shape ^ (shape >> 8) ^ (shape >> 16) ^ (shape >> 40) ^ (request.Boundary >> 12) ^ (request.Highest.Value >> 20);
        return (int)(h & (Entries - 1));
    }
}
