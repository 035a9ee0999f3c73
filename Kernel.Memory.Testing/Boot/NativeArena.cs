using System.Runtime.InteropServices;

namespace PoolKernel.Memory.Testing.Boot;

/// <summary>
/// Native memory for boot structures built by tests. Multiboot1, multiboot2 modules and the RSDT
/// hold 32-bit physical addresses, so <see cref="Low"/> maps memory below 4 GiB (Linux MAP_32BIT);
/// <see cref="High"/> uses NativeMemory, wherever it lands, for 64-bit pointers (XSDT).
/// Everything is zeroed and freed on Dispose.
/// </summary>
public sealed unsafe class NativeArena : IDisposable
{
    private const int ProtReadWrite = 0x1 | 0x2;
    private const int MapPrivate = 0x02;
    private const int MapAnonymous = 0x20;
    private const int Map32Bit = 0x40;

    [DllImport("libc", SetLastError = true)]
    private static extern void* mmap(void* addr, nuint length, int prot, int flags, int fd, nint offset);

    [DllImport("libc", SetLastError = true)]
    private static extern int munmap(void* addr, nuint length);

    [DllImport("libc", SetLastError = true)]
    private static extern int mprotect(void* addr, nuint length, int prot);

    private readonly List<(nint Address, nuint Size, bool Mapped)> _blocks = new();

    /// <summary>
    /// A copy of <paramref name="bytes"/> that ends exactly where an inaccessible page begins: a reader
    /// that goes one byte past the end faults (the test host dies) instead of reading foreign memory.
    /// </summary>
    public byte* BeforeGuardPage(byte[] bytes)
    {
        nuint data = (nuint)((bytes.Length + 4095) & ~4095);
        void* p = mmap(null, data + 4096, ProtReadWrite, MapPrivate | MapAnonymous, -1, 0);
        if (p == (void*)-1 || p == null)
            throw new InvalidOperationException($"mmap of {bytes.Length} bytes failed, errno {Marshal.GetLastWin32Error()}");
        _blocks.Add(((nint)p, data + 4096, true));
        if (mprotect((byte*)p + data, 4096, 0) != 0)
            throw new InvalidOperationException($"mprotect failed, errno {Marshal.GetLastWin32Error()}");
        byte* start = (byte*)p + data - bytes.Length;
        Marshal.Copy(bytes, 0, (nint)start, bytes.Length);
        return start;
    }

    /// <summary>Zeroed memory whose address fits in 32 bits.</summary>
    public byte* Low(int size)
    {
        nuint length = (nuint)((size + 4095) & ~4095);
        void* p = mmap(null, length, ProtReadWrite, MapPrivate | MapAnonymous | Map32Bit, -1, 0);
        if (p == (void*)-1 || p == null)
            throw new InvalidOperationException($"mmap MAP_32BIT of {size} bytes failed, errno {Marshal.GetLastWin32Error()}");
        if ((ulong)p + length > 1UL << 32)
            throw new InvalidOperationException($"MAP_32BIT returned {(ulong)p:x}, above 4 GiB");
        _blocks.Add(((nint)p, length, true));
        return (byte*)p;
    }

    /// <summary>Zeroed memory from NativeMemory, 16-byte aligned (usually above 4 GiB on x86-64 Linux).</summary>
    public byte* High(int size)
    {
        void* p = NativeMemory.AlignedAlloc((nuint)size, 16);
        NativeMemory.Clear(p, (nuint)size);
        _blocks.Add(((nint)p, (nuint)size, false));
        return (byte*)p;
    }

    /// <summary>Copies <paramref name="bytes"/> into new low memory.</summary>
    public byte* LowCopy(byte[] bytes)
    {
        byte* p = Low(Math.Max(bytes.Length, 1));
        Marshal.Copy(bytes, 0, (nint)p, bytes.Length);
        return p;
    }

    public byte* HighCopy(byte[] bytes)
    {
        byte* p = High(Math.Max(bytes.Length, 1));
        Marshal.Copy(bytes, 0, (nint)p, bytes.Length);
        return p;
    }

    /// <summary>A NUL-terminated ASCII string in low memory.</summary>
    public byte* LowString(string s)
    {
        var bytes = new byte[s.Length + 1];
        for (int i = 0; i < s.Length; i++)
            bytes[i] = (byte)s[i];
        return LowCopy(bytes);
    }

    /// <summary>A zeroed, heap-allocated T (the output structs are too large for comfort on the test stack).</summary>
    public T* Struct<T>() where T : unmanaged => (T*)High(sizeof(T));

    public void Dispose()
    {
        foreach (var (address, size, mapped) in _blocks)
        {
            if (mapped)
                munmap((void*)address, size);
            else
                NativeMemory.AlignedFree((void*)address);
        }
        _blocks.Clear();
    }

    public static string ReadString(ulong address, uint length)
    {
        var chars = new char[length];
        for (uint i = 0; i < length; i++)
            chars[i] = (char)((byte*)address)[i];
        return new string(chars);
    }
}
