namespace PoolKernel.Memory.Testing.Boot;

/// <summary>One memory map entry as a loader reports it.</summary>
public readonly record struct MapEntry(ulong Base, ulong Length, uint Type);

/// <summary>Builds a multiboot2 information block: header, 8-byte aligned tags, end tag.</summary>
public sealed class Multiboot2Builder
{
    private readonly ByteWriter _w = new();

    public Multiboot2Builder()
    {
        _w.U32(0).U32(0); // total_size patched in Build, reserved
    }

    /// <summary>A raw tag: type, size (8 + body unless overridden), body, padding to 8.</summary>
    public Multiboot2Builder Tag(uint type, byte[] body, uint? sizeOverride = null)
    {
        _w.U32(type).U32(sizeOverride ?? (uint)(8 + body.Length)).Bytes(body).AlignTo(8);
        return this;
    }

    public Multiboot2Builder CommandLine(string s) => Tag(1, new ByteWriter().AsciiZ(s).ToArray());
    public Multiboot2Builder LoaderName(string s) => Tag(2, new ByteWriter().AsciiZ(s).ToArray());
    public Multiboot2Builder Module(uint start, uint end, string s) => Tag(3, new ByteWriter().U32(start).U32(end).AsciiZ(s).ToArray());
    public Multiboot2Builder BasicMemory(uint lowerKiB, uint upperKiB) => Tag(4, new ByteWriter().U32(lowerKiB).U32(upperKiB).ToArray());

    public Multiboot2Builder MemoryMap(params MapEntry[] entries)
    {
        var b = new ByteWriter().U32(24).U32(0);
        foreach (var e in entries)
            b.U64(e.Base).U64(e.Length).U32(e.Type).U32(0);
        return Tag(6, b.ToArray());
    }

    /// <summary>Tag 17: descriptor_size (40 or more, the rest zero), descriptor_version, descriptors.</summary>
    public Multiboot2Builder EfiMemoryMap(uint descriptorSize, uint version, params EfiDescriptor[] descriptors)
    {
        var b = new ByteWriter().U32(descriptorSize).U32(version);
        foreach (var d in descriptors)
            b.U32(d.Type).U32(0).U64(d.Start).U64(0).U64(d.Pages).U64(d.Attribute).Zeros((int)descriptorSize - 40);
        return Tag(17, b.ToArray());
    }

    public Multiboot2Builder EfiMemoryMap(params EfiDescriptor[] descriptors) => EfiMemoryMap(48, 1, descriptors);

    /// <summary>Tag 12: the EFI 64-bit system table pointer.</summary>
    public Multiboot2Builder Efi64SystemTable(ulong address) => Tag(12, new ByteWriter().U64(address).ToArray());

    public Multiboot2Builder AcpiOld(byte[] rsdp20) => Tag(14, rsdp20);
    public Multiboot2Builder AcpiNew(byte[] rsdp36) => Tag(15, rsdp36);
    public Multiboot2Builder Framebuffer() => Tag(8, new byte[24]);

    /// <summary>Tag 8 as GRUB lays it out: common part (u16 reserved after the type), then for direct colour the six field bytes.</summary>
    public Multiboot2Builder Framebuffer(ulong address, uint pitch, uint width, uint height, byte bpp, byte type, params byte[] colorInfo)
        => Tag(8, new ByteWriter().U64(address).U32(pitch).U32(width).U32(height).U8(bpp).U8(type).U16(0).Bytes(colorInfo).ToArray());

    /// <summary>What GRUB hands over for a UEFI GOP mode of 32 bits (blue in the low byte).</summary>
    public Multiboot2Builder FramebufferRgb32(ulong address, uint width, uint height)
        => Framebuffer(address, width * 4, width, height, 32, 1, 16, 8, 8, 8, 0, 8);
    public Multiboot2Builder End() => Tag(0, Array.Empty<byte>());

    /// <summary>The bytes with total_size set to their length (or <paramref name="totalSizeOverride"/>).</summary>
    public byte[] Build(uint? totalSizeOverride = null)
    {
        _w.PatchU32(0, totalSizeOverride ?? (uint)_w.Length);
        return _w.ToArray();
    }
}

/// <summary>Builds a multiboot1 information structure and the areas it points to, in low memory.</summary>
public sealed unsafe class Multiboot1Builder
{
    private readonly NativeArena _arena;
    private readonly byte[] _info = new byte[116];
    private uint _flags;

    public Multiboot1Builder(NativeArena arena) => _arena = arena;

    private void Put(int offset, uint v)
    {
        for (int i = 0; i < 4; i++)
            _info[offset + i] = (byte)(v >> (8 * i));
    }

    public Multiboot1Builder BasicMemory(uint lowerKiB, uint upperKiB)
    {
        _flags |= 1;
        Put(4, lowerKiB);
        Put(8, upperKiB);
        return this;
    }

    public Multiboot1Builder CommandLine(string s)
    {
        _flags |= 1 << 2;
        Put(16, (uint)(ulong)_arena.LowString(s));
        return this;
    }

    public Multiboot1Builder LoaderName(string s)
    {
        _flags |= 1 << 9;
        Put(64, (uint)(ulong)_arena.LowString(s));
        return this;
    }

    public Multiboot1Builder Modules(params (uint Start, uint End, string Name)[] modules)
    {
        _flags |= 1 << 3;
        var w = new ByteWriter();
        foreach (var m in modules)
            w.U32(m.Start).U32(m.End).U32((uint)(ulong)_arena.LowString(m.Name)).U32(0);
        Put(20, (uint)modules.Length);
        Put(24, (uint)(ulong)_arena.LowCopy(w.ToArray()));
        return this;
    }

    /// <summary>The memory map with each entry's size field = 20 (or <paramref name="sizeField"/>).</summary>
    public Multiboot1Builder MemoryMap(MapEntry[] entries, uint sizeField = 20, uint? lengthOverride = null)
    {
        var w = new ByteWriter();
        foreach (var e in entries)
        {
            w.U32(sizeField).U64(e.Base).U64(e.Length).U32(e.Type);
            w.Zeros((int)Math.Max(0, (long)sizeField - 20));
        }
        return RawMemoryMap(w.ToArray(), lengthOverride ?? (uint)w.Length);
    }

    public Multiboot1Builder RawMemoryMap(byte[] bytes, uint length)
    {
        _flags |= 1 << 6;
        Put(44, length);
        Put(48, (uint)(ulong)_arena.LowCopy(bytes));
        return this;
    }

    public Multiboot1Builder Flag(int bit, int offset, uint value)
    {
        _flags |= 1u << bit;
        Put(offset, value);
        return this;
    }

    public byte* Build()
    {
        Put(0, _flags);
        return _arena.LowCopy(_info);
    }
}
