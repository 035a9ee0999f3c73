namespace PoolKernel.Memory.Testing;

/// <summary>What the host's contract hook throws: the breach, and a message with its values in hex.</summary>
public sealed class BrokenContractException : Exception
{
    public ContractBreach Breach { get; }

    public BrokenContractException(ContractBreach breach)
        : base($"broken contract {breach.Code} in pool {breach.Pool} at frame index 0x{breach.Index:x}: expected 0x{breach.Expected:x}, found 0x{breach.Found:x}")
    {
        Breach = breach;
    }
}
