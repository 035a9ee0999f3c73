using System.Runtime.InteropServices;
using System.Text;
using PoolKernel.Boot.CommandLine;
using PoolKernel.Boot.PoolPlan;
using PoolKernel.Memory;
using PoolKernel.Tests.CommandLine;
using PoolKernel.Tests.Memory;
using Xunit;

namespace PoolKernel.Tests.PoolPlan;

/// <summary>
/// A command line parsed and applied to a PhysicalMemory built on a QEMU-like map: the host
/// memory, the parsed options, the plan's result, and the checks every scenario ends with
/// (checker clean, present pages conserved).
/// </summary>
internal sealed unsafe class Applied : IDisposable
{
    public HostPhysicalMemory Host { get; }
    public Parsed Parsed { get; }
    public PoolPlanResult* Result { get; }
    public PhysicalMemory* Pm => Host.Memory;
    public ulong PresentBefore { get; }

    public Applied(string line, string machine = "q35", ulong mib = 1024, int nodes = 1)
        : this(line, QemuMaps.Boot(machine, mib << 20, nodes)) { }

    public Applied(string line, HostPhysicalMemory host)
    {
        Host = host;
        Assert.Equal(MemoryStatus.Ok, Host.InitStatus);
        PresentBefore = PresentPages();
        Parsed = new Parsed(line);
        Result = (PoolPlanResult*)NativeMemory.AllocZeroed((nuint)sizeof(PoolPlanResult));
        PoolPlanner.Apply(Pm, Parsed.Options, Result);
        AssertConsistent();
    }

    public void AssertConsistent()
    {
        MemoryAssert.Consistent(Pm);
        Assert.True(PresentBefore == PresentPages(), $"present pages {PresentBefore} -> {PresentPages()}\n{Dump()}");
        Assert.Equal(Result->PresentPagesBefore, Result->PresentPagesAfter);
        Assert.Equal(Parsed.Options->PoolCount, Result->Count);
    }

    public ulong PresentPages()
    {
        ulong total = 0;
        for (PoolId id = Pm->FirstPool(); !id.IsNone; id = Pm->NextPool(id))
        {
            Pm->GetPoolStats(id, out PoolStats s);
            total += s.PresentPages;
        }
        return total;
    }

    /// <summary>The outcome of the spec named <paramref name="name"/>.</summary>
    public PoolOutcome Outcome(string name)
    {
        for (int i = 0; i < Result->Count; i++)
        {
            if (Parsed.NameOf(Parsed.Options->Pool(Result->Outcome(i)->SpecIndex)) == name)
                return *Result->Outcome(i);
        }
        throw new Xunit.Sdk.XunitException($"no outcome for '{name}'\n{Dump()}");
    }

    public PoolOutcome Created(string name)
    {
        PoolOutcome o = Outcome(name);
        Assert.True(o.Code == OutcomeCode.Created, $"{name}: {o.Code}\n{Dump()}");
        return o;
    }

    public PoolOutcome Refused(string name, OutcomeCode code)
    {
        PoolOutcome o = Outcome(name);
        Assert.True(o.Code == code, $"{name}: expected {code}, got {o.Code}\n{Dump()}");
        Assert.Equal(0xFF, o.Pool);
        Assert.Equal(0UL, o.GotBytes);
        return o;
    }

    public PoolProperties Props(PoolOutcome o)
    {
        Assert.Equal(MemoryStatus.Ok, Pm->GetPoolProperties(new PoolId(o.Pool), out PoolProperties p));
        return p;
    }

    public PoolStats Stats(PoolOutcome o)
    {
        Assert.Equal(MemoryStatus.Ok, Pm->GetPoolStats(new PoolId(o.Pool), out PoolStats s));
        return s;
    }

    /// <summary>Every page block of the pool, as (start address, node).</summary>
    public List<(ulong Start, int Node, uint Present)> Blocks(PoolOutcome o)
    {
        var list = new List<(ulong, int, uint)>();
        for (ulong pb = 0; pb < Pm->PageblockCount; pb++)
        {
            Pm->GetPageblock(pb, out PageblockUse u);
            if (u.Pool.Value == o.Pool)
                list.Add((u.Start.Value << 12, u.Node, u.PresentPages));
        }
        return list;
    }

    public string Dump()
    {
        var sb = new StringBuilder(Parsed.Dump());
        for (int i = 0; i < Result->Count; i++)
        {
            PoolOutcome* o = Result->Outcome(i);
            sb.Append($"  outcome {Parsed.NameOf(Parsed.Options->Pool(o->SpecIndex))}: {o->Code} notes={o->Notes} req={o->RequestedBytes} planned={o->PlannedBytes} got={o->GotBytes} avail={o->AvailableBytes} value={o->Value} pool={o->Pool} donor={o->Donor}x{o->DonorCount}\n");
        }
        for (PoolId id = Pm->FirstPool(); !id.IsNone; id = Pm->NextPool(id))
        {
            Pm->GetPoolProperties(id, out PoolProperties p);
            Pm->GetPoolStats(id, out PoolStats s);
            sb.Append($"  pool {id.Value} {MemoryAssert.NameOf(p)} nodes={p.NodeMask:x} {p.WindowLow.Value:x}-{p.WindowHigh.Value:x} flags={p.Flags} present={s.PresentPages}\n");
        }
        return sb.ToString();
    }

    public void Dispose()
    {
        NativeMemory.Free(Result);
        Parsed.Dispose();
        Host.Dispose();
    }
}
