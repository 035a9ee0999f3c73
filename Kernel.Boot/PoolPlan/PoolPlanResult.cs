namespace PoolKernel.Boot.PoolPlan
{
    /// <summary>
    /// Every outcome of <see cref="PoolPlanner.Apply"/>, one per pool spec in command-line order,
    /// and the present-page totals before and after (they must be equal: pools only move memory).
    /// The caller owns the storage; Apply clears it first.
    /// </summary>
    public unsafe struct PoolPlanResult
    {
        public const int MaxOutcomes = CommandLine.BootOptions.MaxPoolSpecs;

        public int Count;
        public int CreatedCount;
        public int RefusedCount;
        /// <summary>Sum of every live pool's present pages before and after applying.</summary>
        public ulong PresentPagesBefore;
        public ulong PresentPagesAfter;

        private fixed byte _outcomes[MaxOutcomes * PoolOutcome.StorageSize];

        /// <summary>Outcome <paramref name="index"/> (the index is reduced modulo the capacity).</summary>
        public PoolOutcome* Outcome(int index)
        {
            fixed (byte* outcomes = _outcomes)
            {
                return (PoolOutcome*)(outcomes + (uint)index % MaxOutcomes * PoolOutcome.StorageSize);
            }
        }
    }
}
