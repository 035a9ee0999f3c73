namespace PoolKernel.Memory;

/// <summary>
/// The node-distance table (ACPI SLIT shape): Distance(a, b) for a, b below NodeCount,
/// row-major bytes; 10 means local. Without NUMA: one node and a null table.
/// The caller keeps the table alive only for the set-up call; set-up copies it into metadata.
/// </summary>
public unsafe struct NodeDistances
{
    /// <summary>Node masks are 64-bit, so at most 64 nodes.</summary>
    public const int MaxNodes = 64;

    /// <summary>The SLIT value for a node to itself.</summary>
    public const byte Local = 10;

    public byte* Table;
    public int NodeCount;

    public NodeDistances(byte* table, int nodeCount)
    {
        Table = table;
        NodeCount = nodeCount;
    }

    /// <summary>One node, no table.</summary>
    public static NodeDistances SingleNode { get { return new NodeDistances(null, 1); } }
}
