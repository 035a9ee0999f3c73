using PoolKernel.Boot.Console;
using PoolKernel.Boot.Multiboot;

namespace PoolKernel.Platform
{
    /// <summary>
    /// The screen the console is mirrored on besides COM1: the VGA text screen, a framebuffer drawn
    /// with the console font, or none. Chosen once from the boot information
    /// (<see cref="ScreenChoice.Choose"/>), before the first line of the banner; until then output is
    /// serial only. Like the serial port it takes no lock: lines from two CPUs at once may interleave.
    /// </summary>
    internal static unsafe class Screen
    {
        internal static ScreenKind Kind { get; private set; }

        /// <summary>Why a framebuffer the loader gave is not used (null when it is, or there was none).</summary>
        internal static string Refusal { get; private set; }

        internal static void Select(BootInfo* boot)
        {
            ScreenKind kind = ScreenChoice.Choose(boot);
            if (kind == ScreenKind.Framebuffer && !FramebufferConsole.Initialize(&boot->Framebuffer, out string refusal))
            {
                Refusal = refusal;
                kind = ScreenKind.None;
            }
            else if (kind == ScreenKind.None && boot->Framebuffer.Present)
                Refusal = "not a 32-bit RGB framebuffer";
            if (kind == ScreenKind.VgaText)
                VgaText.Clear();
            Kind = kind;
        }

        internal static void Write(byte c)
        {
            if (Kind == ScreenKind.VgaText)
                VgaText.Write(c);
            else if (Kind == ScreenKind.Framebuffer)
                FramebufferConsole.Write(c);
        }
    }
}
