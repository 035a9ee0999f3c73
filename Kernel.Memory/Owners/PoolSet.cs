using System.Runtime.CompilerServices;

namespace PoolKernel.Memory;

/// <summary>
/// A set of pool slots (bit n = <see cref="PoolId"/> n, n below <see cref="PoolId.MaxIds"/>): the pools
/// a container may allocate from (<see cref="ContainerSpec.Pools"/>), and the owner-mask bits its
/// creation changed (<see cref="Container"/>), so destruction puts them back.
/// </summary>
public unsafe struct PoolSet
{
    /// <summary>Words of the set: 4 x 64 bits cover every pool id 0..254.</summary>
    public const int Words = 4;
    private fixed ulong _bits[Words];

    /// <summary>Every pool slot.</summary>
    public static PoolSet All
    {
        get
        {
            PoolSet s = default;
            for (int i = 0; i < Words; i++)
                s._bits[i] = ulong.MaxValue;
            return s;
        }
    }

    /// <summary>Adds <paramref name="id"/>; an id of no slot (None) is ignored.</summary>
    public void Add(PoolId id)
    {
        if (id.Value < PoolId.MaxIds)
            _bits[id.Value >> 6] |= 1UL << (id.Value & 63);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly bool Contains(int pool)
    {
        return (uint)pool < PoolId.MaxIds && ((_bits[pool >> 6] >> (pool & 63)) & 1) != 0;
    }

    /// <summary>Every slot in the set (as <see cref="All"/>): a container that keeps every pool's owner mask.</summary>
    public readonly bool IsAll
    {
        get
        {
            for (int i = 0; i < Words; i++)
                if (_bits[i] != ulong.MaxValue)
                    return false;
            return true;
        }
    }

    public readonly bool IsEmpty
    {
        get
        {
            for (int i = 0; i < Words; i++)
                if (_bits[i] != 0)
                    return false;
            return true;
        }
    }
}
