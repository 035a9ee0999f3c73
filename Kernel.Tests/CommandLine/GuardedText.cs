using System.Runtime.InteropServices;

namespace PoolKernel.Tests.CommandLine;

/// <summary>
/// Command-line bytes placed against a PROT_NONE page, so a parser that reads one byte
/// past the end (or, with <see cref="Placement.AtStart"/>, one byte before the start) faults
/// instead of silently reading neighbouring memory. Linux only (mmap/mprotect from libc).
/// </summary>
internal sealed unsafe class GuardedText : IDisposable
{
    public enum Placement { AtEnd, AtStart }

    private const int ProtNone = 0;
    private const int ProtRead = 1;
    private const int ProtWrite = 2;
    private const int MapPrivate = 0x02;
    private const int MapAnonymous = 0x20;

    [DllImport("libc", SetLastError = true)]
    private static extern nint mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);

    [DllImport("libc", SetLastError = true)]
    private static extern int mprotect(nint addr, nuint length, int prot);

    [DllImport("libc", SetLastError = true)]
    private static extern int munmap(nint addr, nuint length);

    private readonly nint _mapping;
    private readonly nuint _mappingLength;

    public byte* Text { get; }
    public int Length { get; }

    public GuardedText(byte[] bytes, Placement placement = Placement.AtEnd)
    {
        int page = Environment.SystemPageSize;
        int dataPages = (bytes.Length + page - 1) / page + 1;
        // guard page | data pages | guard page
        _mappingLength = (nuint)((dataPages + 2) * page);
        _mapping = mmap(0, _mappingLength, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
        if (_mapping == -1)
            throw new InvalidOperationException("mmap failed: errno " + Marshal.GetLastPInvokeError());
        byte* data = (byte*)_mapping + page;
        if (mprotect(_mapping, (nuint)page, ProtNone) != 0
            || mprotect((nint)(data + dataPages * page), (nuint)page, ProtNone) != 0)
        {
            throw new InvalidOperationException("mprotect failed: errno " + Marshal.GetLastPInvokeError());
        }

        Text = placement == Placement.AtEnd ? data + dataPages * page - bytes.Length : data;
        Length = bytes.Length;
        for (int i = 0; i < bytes.Length; i++)
            Text[i] = bytes[i];
    }

    public void Dispose() => munmap(_mapping, _mappingLength);
}
