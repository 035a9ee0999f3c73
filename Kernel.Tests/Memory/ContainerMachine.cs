using System.Runtime.InteropServices;
using PoolKernel.Memory;
using Xunit;

namespace PoolKernel.Tests.Memory;

/// <summary>
/// A host machine with a container table attached (supervisor: owner 0), the container tests' fixture: q35, 256 MiB,
/// two nodes, or the host a test class boots for itself (its CPU count, its interrupt hooks). The calling thread is
/// CPU 0. Test classes derive from it for the pools and checks of their own.
/// </summary>
public unsafe class ContainerMachine : IDisposable
{
    public readonly HostPhysicalMemory Host;
    public readonly void* Table = NativeMemory.AlignedAlloc((nuint)PhysicalMemory.ContainerTableBytes, 64);
    public PhysicalMemory* Pm => Host.Memory;

    public ContainerMachine() : this(QemuMaps.Boot("q35", 256UL << 20, 2))
    {
    }

    public ContainerMachine(HostPhysicalMemory host)
    {
        Host = host;
        HostCpus.Enter(0);
        Assert.Equal(MemoryStatus.Ok, Host.InitStatus);
        Assert.Equal(MemoryStatus.Ok, Pm->AttachContainers(Table, PhysicalMemory.ContainerTableBytes, 0));
    }

    /// <summary>The container table's bytes as they are now (a refused call must leave them so).</summary>
    public byte[] TableBytes()
    {
        var copy = new byte[PhysicalMemory.ContainerTableBytes];
        Marshal.Copy((nint)Table, copy, 0, copy.Length);
        return copy;
    }

    public void Dispose()
    {
        Host.Dispose();
        NativeMemory.AlignedFree(Table);
    }
}
