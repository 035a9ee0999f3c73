using System.Numerics;
using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// The address rules of a request resolved to frame numbers once, then used both to search and to
/// check the result on the way out: first frame in [LowPfn, EndPfn), first frame a multiple of
/// AlignPages, and the block not crossing a multiple of BoundaryPages.
/// </summary>
public struct DmaRules
{
    public ulong LowPfn;
    /// <summary>Exclusive.</summary>
    public ulong EndPfn;
    /// <summary>Power of two, at least 1.</summary>
    public ulong AlignPages;
    /// <summary>Power of two, or 0 for none.</summary>
    public ulong BoundaryPages;

    /// <summary>Frames beyond any 52-bit physical address: "no upper limit".</summary>
    public const ulong NoLimitPfn = Pfn.Limit;

    /// <summary>What <see cref="Resolve"/> gives a request without address rules: every frame, natural alignment, no boundary.</summary>
    public static DmaRules None
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            DmaRules r;
            r.LowPfn = 0;
            r.EndPfn = NoLimitPfn;
            r.AlignPages = 1;
            r.BoundaryPages = 0;
            return r;
        }
    }

    /// <summary>
    /// Resolves the request for a block of <paramref name="pages"/> frames. Refuses malformed
    /// rules (alignment or boundary not a power of two, DMA bits out of range, inverted range) with
    /// InvalidArgument, and rules no block of that size can meet (a boundary smaller than the block,
    /// a window smaller than the block) with ImpossibleRules.
    /// </summary>
    public static MemoryStatus Resolve(in AllocRequest request, ulong pages, out DmaRules rules)
    {
        rules = default;
        rules.LowPfn = request.Lowest.FrameUp.Value;
        ulong end = NoLimitPfn;
        if (request.Highest.Value != 0)
        {
            ulong e = (request.Highest.Value >> Pfn.PageShift);
            // The last byte's frame is usable only if the whole frame is below the limit.
            if ((request.Highest.Value & (Pfn.PageSize - 1)) == Pfn.PageSize - 1)
                e++;
            end = e < end ? e : end;
        }
        if (request.DmaAddressBits != 0)
        {
            if (request.DmaAddressBits < Pfn.PageShift || request.DmaAddressBits > 63)
                return MemoryStatus.InvalidArgument;
            ulong e = 1UL << (request.DmaAddressBits - Pfn.PageShift);
            end = e < end ? e : end;
        }
        rules.EndPfn = end;

        ulong align = request.Alignment >> Pfn.PageShift;
        if (request.Alignment != 0 && !BitOperations.IsPow2(request.Alignment))
            return MemoryStatus.InvalidArgument;
        rules.AlignPages = align == 0 ? 1 : align;

        if (request.Boundary != 0)
        {
            if (!BitOperations.IsPow2(request.Boundary))
                return MemoryStatus.InvalidArgument;
            rules.BoundaryPages = request.Boundary >> Pfn.PageShift;
            if (rules.BoundaryPages < pages)
                return MemoryStatus.ImpossibleRules;
        }
        if (rules.LowPfn >= rules.EndPfn || rules.EndPfn - rules.LowPfn < pages)
            return MemoryStatus.ImpossibleRules;
        return MemoryStatus.Ok;
    }

    /// <summary>
    /// True when the rules are implied by a pool whose frames all lie in [<paramref name="windowStartPfn"/>,
    /// <paramref name="windowEndPfn"/>): every buddy block of <paramref name="pages"/> frames (a power of two) the
    /// pool can hand out obeys them. The window lies inside the rules' range, the alignment is at most the
    /// block's natural one, and a boundary needs nothing: <see cref="Resolve"/> refuses one smaller than the
    /// block, and a naturally aligned block never crosses a larger one (an order-0 frame never crosses 64 KiB).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly bool ImpliedBy(ulong windowStartPfn, ulong windowEndPfn, ulong pages)
    {
        return windowStartPfn >= LowPfn && windowEndPfn <= EndPfn && AlignPages <= pages;
    }

    /// <summary>The exit check: does [pfn, pfn + pages) obey every rule?</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly bool Admits(ulong pfn, ulong pages)
    {
        if (pfn < LowPfn || pfn + pages > EndPfn || (pfn & (AlignPages - 1)) != 0)
            return false;
        if (BoundaryPages != 0 && ((pfn ^ (pfn + pages - 1)) & ~(BoundaryPages - 1)) != 0)
            return false;
        return true;
    }

    /// <summary>
    /// The lowest frame p in [from, limit - pages] that obeys the rules, or <see cref="FreeList.End"/>.
    /// <paramref name="naturalPages"/> is an extra alignment the block itself needs (2^order for buddy blocks, 1 for runs).
    /// </summary>
    public readonly ulong FirstFit(ulong from, ulong limit, ulong pages, ulong naturalPages)
    {
        if (from < LowPfn)
            from = LowPfn;
        if (limit > EndPfn)
            limit = EndPfn;
        ulong align = AlignPages > naturalPages ? AlignPages : naturalPages;
        ulong p = (from + align - 1) & ~(align - 1);
        if (p < from)
            return FreeList.End;
        if (BoundaryPages != 0 && ((p ^ (p + pages - 1)) & ~(BoundaryPages - 1)) != 0)
        {
            // Move to the next boundary; it is a multiple of the alignment when the boundary is larger,
            // otherwise realign (boundary < align means an aligned block never crosses it).
            p = ((p + pages - 1) & ~(BoundaryPages - 1));
            p = (p + align - 1) & ~(align - 1);
        }
        if (p >= limit || limit - p < pages)
            return FreeList.End;
        return p;
    }
}
