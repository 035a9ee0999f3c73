namespace PoolKernel.Memory;

/// <summary>
/// Policies as text, shared by the kernel command line (<c>numa_policy=MODE[:NODES[:WEIGHTS]]</c>) and
/// the shell (<c>policy [CONTEXT] [MODE NODES [WEIGHTS]]</c>): Linux's mode names, Linux node lists
/// (<c>0-2</c>, <c>0,2</c>, <c>0-1,3</c>: numbers and ranges separated by commas), weights as
/// comma-separated decimals in increasing node order. Reads only the bytes it is given; allocates nothing.
/// </summary>
public static unsafe class PolicyParser
{
    /// <summary>The longest weight list (one weight per node).</summary>
    public const int MaxWeights = NodeDistances.MaxNodes;

    /// <summary>A mode by its Linux name (local, bind, preferred, preferred-many, interleave, weighted-interleave, default).</summary>
    public static PolicyStatus ParseMode(byte* text, int length, out PolicyMode mode)
    {
        mode = PolicyMode.Default;
        if (Is(text, length, "local")) mode = PolicyMode.Local;
        else if (Is(text, length, "bind")) mode = PolicyMode.Bind;
        else if (Is(text, length, "preferred")) mode = PolicyMode.Preferred;
        else if (Is(text, length, "preferred-many")) mode = PolicyMode.PreferredMany;
        else if (Is(text, length, "interleave")) mode = PolicyMode.Interleave;
        else if (Is(text, length, "weighted-interleave")) mode = PolicyMode.WeightedInterleave;
        else if (!Is(text, length, "default")) return PolicyStatus.UnknownMode;
        return PolicyStatus.Ok;
    }

    /// <summary>The name of <paramref name="mode"/> as <see cref="ParseMode"/> reads it.</summary>
    public static string Name(PolicyMode mode)
    {
        switch (mode)
        {
            case PolicyMode.Local: return "local";
            case PolicyMode.Bind: return "bind";
            case PolicyMode.Preferred: return "preferred";
            case PolicyMode.PreferredMany: return "preferred-many";
            case PolicyMode.Interleave: return "interleave";
            case PolicyMode.WeightedInterleave: return "weighted-interleave";
            default: return "default";
        }
    }

    /// <summary>
    /// A Linux node list into a mask. Refused: NodeListSyntax (empty, a stray comma or dash, not
    /// decimal), UnknownNode (a number above 63), EmptyMask (only backward ranges such as <c>3-1</c>).
    /// </summary>
    public static PolicyStatus ParseNodeList(byte* text, int length, out ulong mask)
    {
        mask = 0;
        if (length <= 0)
            return PolicyStatus.NodeListSyntax;
        int i = 0;
        while (true)
        {
            PolicyStatus status = Number(text, length, ref i, NodeDistances.MaxNodes - 1, PolicyStatus.UnknownNode, out ulong first);
            if (status != PolicyStatus.Ok)
                return status;
            ulong last = first;
            if (i < length && text[i] == (byte)'-')
            {
                i++;
                status = Number(text, length, ref i, NodeDistances.MaxNodes - 1, PolicyStatus.UnknownNode, out last);
                if (status != PolicyStatus.Ok)
                    return status;
            }
            for (ulong n = first; n <= last; n++)
                mask |= 1UL << (int)n;
            if (i == length)
                break;
            if (text[i] != (byte)',')
                return PolicyStatus.NodeListSyntax;
            i++;
        }
        return mask == 0 ? PolicyStatus.EmptyMask : PolicyStatus.Ok;
    }

    /// <summary>
    /// Comma-separated weights into <paramref name="weights"/> (room for <see cref="MaxWeights"/>);
    /// a value above 255 is kept as 256 so <see cref="NumaPolicy.Make"/> refuses it by name.
    /// Refused: WeightSyntax (not decimal, empty entries, more than <see cref="MaxWeights"/>).
    /// </summary>
    public static PolicyStatus ParseWeights(byte* text, int length, ushort* weights, out int count)
    {
        count = 0;
        if (length <= 0)
            return PolicyStatus.WeightSyntax;
        int i = 0;
        while (true)
        {
            if (count == MaxWeights)
                return PolicyStatus.WeightSyntax;
            PolicyStatus status = Number(text, length, ref i, ulong.MaxValue, PolicyStatus.WeightSyntax, out ulong value);
            if (status != PolicyStatus.Ok)
                return status == PolicyStatus.NodeListSyntax ? PolicyStatus.WeightSyntax : status;
            weights[count++] = value > 255 ? (ushort)256 : (ushort)value;
            if (i == length)
                return PolicyStatus.Ok;
            if (text[i] != (byte)',')
                return PolicyStatus.WeightSyntax;
            i++;
        }
    }

    /// <summary>
    /// The command-line form <c>MODE[:NODES[:WEIGHTS]]</c> into a shape-checked policy
    /// (<see cref="NumaPolicy.Make"/>); the machine check (<see cref="NumaPolicy.Validate"/>) is the
    /// caller's once the nodes are known. Refused: a status and <paramref name="policy"/> Default.
    /// </summary>
    public static PolicyStatus Parse(byte* text, int length, out NumaPolicy policy)
    {
        policy = default;
        int modeEnd = IndexOf(text, 0, length, (byte)':');
        PolicyStatus status = ParseMode(text, modeEnd, out PolicyMode mode);
        if (status != PolicyStatus.Ok)
            return status;
        ulong nodes = 0;
        int weightCount = 0;
        ushort* weights = stackalloc ushort[MaxWeights];
        if (modeEnd < length)
        {
            int nodesStart = modeEnd + 1;
            int nodesEnd = IndexOf(text, nodesStart, length, (byte)':');
            status = ParseNodeList(text + nodesStart, nodesEnd - nodesStart, out nodes);
            if (status != PolicyStatus.Ok)
                return status;
            if (nodesEnd < length)
            {
                status = ParseWeights(text + nodesEnd + 1, length - nodesEnd - 1, weights, out weightCount);
                if (status != PolicyStatus.Ok)
                    return status;
            }
        }
        return NumaPolicy.Make(mode, nodes, weights, weightCount, out policy);
    }

    /// <summary>A decimal number at <paramref name="i"/> (advanced past it) no greater than <paramref name="max"/>; NodeListSyntax when there is none, <paramref name="tooLarge"/> above max.</summary>
    private static PolicyStatus Number(byte* text, int length, ref int i, ulong max, PolicyStatus tooLarge, out ulong value)
    {
        value = 0;
        int start = i;
        bool overflow = false;
        while (i < length && text[i] >= (byte)'0' && text[i] <= (byte)'9')
        {
            ulong digit = (ulong)(text[i] - (byte)'0');
            if (value > (ulong.MaxValue - digit) / 10)
                overflow = true;
            else
                value = value * 10 + digit;
            i++;
        }
        if (i == start)
            return PolicyStatus.NodeListSyntax;
        if (overflow || value > max)
        {
            value = overflow ? ulong.MaxValue : value;
            return tooLarge == PolicyStatus.WeightSyntax ? PolicyStatus.Ok : tooLarge;
        }
        return PolicyStatus.Ok;
    }

    private static int IndexOf(byte* text, int from, int length, byte c)
    {
        int i = from;
        while (i < length && text[i] != c)
            i++;
        return i;
    }

    private static bool Is(byte* text, int length, string literal)
    {
        if (length != literal.Length)
            return false;
        for (int i = 0; i < length; i++)
        {
            if (text[i] != literal[i])
                return false;
        }
        return true;
    }
}
