namespace PoolKernel.Drivers.Dma
{
    /// <summary>Outcome of a DMA-memory call. Everything but Ok leaves state unchanged.</summary>
    public enum DmaStatus : byte
    {
        Ok = 0,
        /// <summary>The pool is full and no matching free page blocks are left to grow it.</summary>
        OutOfMemory,
        /// <summary>No memory on this machine can satisfy the device's rules (e.g. nothing below 2^24).</summary>
        NoMatchingMemory,
        /// <summary>The device's rules are malformed (bits out of range, boundary not a power of two...).</summary>
        InvalidRules,
        /// <summary>The request cannot meet the rules (a buffer larger than the boundary or MaxContiguous).</summary>
        TooLarge,
        /// <summary>A buffer came back that breaks the device's rules; it was not handed out.</summary>
        RuleViolation,
        /// <summary>The buffer was already returned.</summary>
        DoubleFree,
        /// <summary>The buffer or block does not belong to this pool.</summary>
        Foreign,
        /// <summary>The device still holds buffers; detach refused.</summary>
        InUse,
        /// <summary>The pool table is full.</summary>
        TooManyPools,
        /// <summary>The pools refused a request the DMA pool made for a reason no driver can act on (a pool that is gone, an owner it does not admit): a DMA-pool bug, state unchanged.</summary>
        PoolsRefused,
        /// <summary>The pools' metadata contradicts itself (in the kernel the memory owner has failed fast before this could be returned).</summary>
        Corruption,
        /// <summary>The buffer would take the driver's container over its quota (docs/drivers.md, "Drivers as containers"); nothing changed.</summary>
        QuotaExceeded,
    }

    public static class DmaStatusText
    {
        public static string Describe(DmaStatus status)
        {
            switch (status)
            {
                case DmaStatus.Ok: return "ok";
                case DmaStatus.OutOfMemory: return "out of DMA memory (pool full, nothing left to grow it)";
                case DmaStatus.NoMatchingMemory: return "no memory obeys the device's rules";
                case DmaStatus.InvalidRules: return "malformed device rules";
                case DmaStatus.TooLarge: return "buffer larger than the device's boundary or largest piece";
                case DmaStatus.RuleViolation: return "buffer broke the device's rules; refused";
                case DmaStatus.DoubleFree: return "buffer already returned";
                case DmaStatus.Foreign: return "buffer not from this pool";
                case DmaStatus.InUse: return "device still holds buffers";
                case DmaStatus.TooManyPools: return "DMA pool table full";
                case DmaStatus.PoolsRefused: return "the pools refused the DMA pool's request";
                case DmaStatus.QuotaExceeded: return "over the driver's container quota";
                default: return "pool metadata corruption";
            }
        }
    }
}
