using System.Runtime.InteropServices;
using System.Text;
using PoolKernel.Boot.Text;

namespace PoolKernel.Sim;

/// <summary>
/// The reports' <see cref="TextOut"/> on the host: the text collects in a string ('\n' line ends, as
/// the kernel's serial log read back). <see cref="Out"/> is valid until Dispose.
/// </summary>
public sealed unsafe class StringOut : IDisposable
{
    private readonly StringBuilder _text = new();
    private GCHandle _handle;

    public StringOut() => _handle = GCHandle.Alloc(_text);

    public TextOut Out => new TextOut(&Put, (void*)GCHandle.ToIntPtr(_handle));

    private static void Put(void* sink, char c) => ((StringBuilder)GCHandle.FromIntPtr((IntPtr)sink).Target!).Append(c);

    public override string ToString() => _text.ToString();

    public void Dispose()
    {
        if (_handle.IsAllocated)
            _handle.Free();
    }
}
