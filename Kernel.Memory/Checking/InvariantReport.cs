namespace PoolKernel.Memory;

/// <summary>
/// The checker's verdict: Ok, or the first broken invariant and where (frame, pool, order) with
/// the two numbers that disagree. The caller turns it into text.
/// </summary>
public struct InvariantReport
{
    public InvariantCode Code;
    public Pfn Pfn;
    public PoolId Pool;
    public byte Order;
    public ulong Expected;
    public ulong Actual;
    /// <summary>
    /// Realtime pools the bounded checker (<see cref="PhysicalMemory.Check"/>) did not check: each changed under its
    /// check more than <see cref="InvariantChecker.RealtimeRestarts"/> times ("busy, not checked", neither clean
    /// nor broken). Empty from the full checker.
    /// </summary>
    public PoolSet NotChecked;

    public bool IsOk { get { return Code == InvariantCode.Ok; } }

    public static InvariantReport Broken(InvariantCode code, ulong pfn, int pool, int order, ulong expected, ulong actual)
    {
        InvariantReport r = default;
        r.Code = code;
        r.Pfn = new Pfn(pfn);
        r.Pool = new PoolId((byte)pool);
        r.Order = (byte)order;
        r.Expected = expected;
        r.Actual = actual;
        return r;
    }
}
