namespace PoolKernel.Memory;

/// <summary>
/// The partial slabs of one (node, size class): slabs with at least one free cell, doubly linked
/// through their headers. Allocation takes the head; slabs that became partial go to the head,
/// empty slabs kept as a cache go to the tail, so partly used slabs fill up before empty ones.
/// </summary>
public unsafe struct SlabList
{
    public SlabHeader* Head;
    public SlabHeader* Tail;
    public uint Count;
    /// <summary>How many slabs on the list are entirely free (at most KernelHeap.EmptySlabsCached).</summary>
    public uint Empty;

    public void PushHead(SlabHeader* slab)
    {
        slab->Prev = null;
        slab->Next = Head;
        if (Head != null)
            Head->Prev = slab;
        else
            Tail = slab;
        Head = slab;
        slab->List = SlabHeader.OnPartialList;
        Count++;
    }

    public void PushTail(SlabHeader* slab)
    {
        slab->Next = null;
        slab->Prev = Tail;
        if (Tail != null)
            Tail->Next = slab;
        else
            Head = slab;
        Tail = slab;
        slab->List = SlabHeader.OnPartialList;
        Count++;
    }

    public void Remove(SlabHeader* slab)
    {
        if (slab->Prev != null)
            slab->Prev->Next = slab->Next;
        else
            Head = slab->Next;
        if (slab->Next != null)
            slab->Next->Prev = slab->Prev;
        else
            Tail = slab->Prev;
        slab->Next = null;
        slab->Prev = null;
        slab->List = SlabHeader.OnNoList;
        Count--;
    }
}
