using System;

namespace PoolKernel.Drivers.Dma
{
    /// <summary>
    /// A physically contiguous buffer a device may DMA into: its bus address, the kernel's pointer
    /// to it, its length. Checked against the device's rules before it was handed out. Return it with
    /// <see cref="Dispose"/> (<c>using var buffer = ...</c>); returning it twice is refused.
    /// </summary>
    public unsafe struct DmaBuffer : IDisposable
    {
        /// <summary>The address the device is given.</summary>
        public ulong Physical;
        /// <summary>The same memory as the kernel sees it (the direct map).</summary>
        public byte* Pointer;
        /// <summary>Bytes asked for; the buffer owns whole pages.</summary>
        public ulong Length;
        internal ulong Pages;
        internal DmaPool Pool;

        public readonly bool IsValid => Pool != null;

        public ref byte this[ulong index] => ref Pointer[index];

        public readonly void Fill(byte value)
        {
            for (ulong i = 0; i < Length; i++)
                Pointer[i] = value;
        }

        /// <summary>Returns the buffer to its pool. A buffer already returned is refused (DoubleFree).</summary>
        public DmaStatus Release() => Pool == null ? DmaStatus.Foreign : Pool.Free(ref this);

        public void Dispose() => Release();
    }
}
