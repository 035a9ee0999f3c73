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

    public bool IsOk { get { return Code == InvariantCode.Ok; } }

    public static InvariantReport Broken(InvariantCode code, ulong pfn, int pool, int order, ulong expected, ulong actual)
    {
        InvariantReport r;
        r.Code = code;
        r.Pfn = new Pfn(pfn);
        r.Pool = new PoolId((byte)pool);
        r.Order = (byte)order;
        r.Expected = expected;
        r.Actual = actual;
        return r;
    }
}
