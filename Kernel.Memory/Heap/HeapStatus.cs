namespace PoolKernel.Memory;

/// <summary>
/// The outcome of a heap call, grouped like <see cref="MemoryStatus"/>: out of memory is a result
/// the caller handles; caller mistakes are refused with the heap unchanged; corruption means the
/// heap's own metadata contradicts itself and the kernel should stop.
/// </summary>
public enum HeapStatus : byte
{
    Ok = 0,

    // The caller handles these (the failure is also kept in KernelHeap.LastFailure).
    OutOfMemory = 1,
    NoPoolSatisfies = 2,

    // Caller mistakes: refused, nothing changed.
    InvalidArgument = 16,
    BadAlignment = 17,
    BadNode = 18,
    /// <summary>The pointer is not inside any page the heap holds.</summary>
    Foreign = 19,
    /// <summary>The pointer is an object's start, but that object is already free.</summary>
    DoubleFree = 20,
    /// <summary>The pointer is inside heap memory but not at the start of an object (or in a slab header or slack).</summary>
    InteriorPointer = 21,
    MetadataTooSmall = 22,
    /// <summary>
    /// The pools refused the heap's request as a caller error (e.g. more pages than the machine
    /// has: ImpossibleRules); <see cref="HeapFailure.MemoryStatus"/> holds their answer. Freeing
    /// memory does not help, so it is not OutOfMemory.
    /// </summary>
    PoolsRefused = 23,

    // The heap's metadata or the pools disagree with what the heap recorded.
    Corruption = 64,
}
