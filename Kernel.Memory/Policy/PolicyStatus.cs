namespace PoolKernel.Memory;

/// <summary>
/// Why a policy was refused (the shell and the command line print one line for each, and keep the
/// old policy). Syntax codes come from <see cref="PolicyParser"/>, the others from
/// <see cref="NumaPolicy.Validate"/> against the machine's nodes.
/// </summary>
public enum PolicyStatus : byte
{
    Ok = 0,
    /// <summary>A mode other than Linux's names (local, bind, preferred, preferred-many, interleave, weighted-interleave, default).</summary>
    UnknownMode,
    /// <summary>The node list is not a Linux node list (<c>0-2</c>, <c>0,2</c>, <c>0-1,3</c>).</summary>
    NodeListSyntax,
    /// <summary>A node number of the list is not a node of the machine (or above 63).</summary>
    UnknownNode,
    /// <summary>The mode needs nodes and the list names none (<c>3-1</c>).</summary>
    EmptyMask,
    /// <summary><c>preferred</c> names more than one node.</summary>
    OneNodeOnly,
    /// <summary>No node of the list has memory.</summary>
    NoMemory,
    /// <summary>The mode takes nodes (every mode but local and default) and none were given.</summary>
    NodesMissing,
    /// <summary>local and default take no nodes.</summary>
    NodesNotTaken,
    /// <summary>Weights are not comma-separated decimal numbers.</summary>
    WeightSyntax,
    /// <summary>A weight of 0 (weights are 1..255).</summary>
    WeightZero,
    /// <summary>A weight above 255.</summary>
    WeightTooLarge,
    /// <summary>The number of weights differs from the number of nodes in the list.</summary>
    WeightCount,
    /// <summary>Weights given to a mode other than weighted-interleave.</summary>
    WeightsNotTaken,
}
