using System.Runtime;
using System.Runtime.CompilerServices;
using PoolKernel.Boot.Console;
using PoolKernel.Boot.Multiboot;
using PoolKernel.Mm;

namespace PoolKernel.Platform
{
    /// <summary>
    /// The console on the loader's linear framebuffer (UEFI GOP, or a VESA mode): the font is read
    /// from the PF2 file linked into the kernel (Arch/x64/font.S), the text drawn by
    /// <see cref="FramebufferText"/>, light grey on black like the VGA text screen.
    /// </summary>
    internal static unsafe class FramebufferConsole
    {
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_console_font")] private static extern byte* FontFile();
        [MethodImpl(MethodImplOptions.InternalCall), RuntimeImport("arch_console_font_end")] private static extern byte* FontFileEnd();

        /// <summary>Farthest a framebuffer may end for the console to map it (2 MiB pages, page tables from the boot arena).</summary>
        private const ulong MaxMappedEnd = 64UL << 30;

        /// <summary>In the boot arena (which stays in the kernel image reservation), read once.</summary>
        private static ConsoleFont* s_font;
        private static FramebufferText s_text;

        internal static FramebufferInfo Info;
        internal static Pf2FontError FontError;
        internal static int FontGlyphs => s_font == null ? 0 : s_font->Loaded;
        internal static int Columns => s_text.Columns;
        internal static int Rows => s_text.Rows;

        /// <summary>
        /// Reads the font, makes sure the framebuffer is identity-mapped, clears it. False (and why)
        /// when the console cannot use it; nothing has been drawn then.
        /// </summary>
        internal static bool Initialize(FramebufferInfo* fb, out string refusal)
        {
            Info = *fb;
            ConsoleFont* font = (ConsoleFont*)BootAllocator.AllocZeroed((nuint)sizeof(ConsoleFont), 8);
            if (font == null)
            {
                refusal = "no boot memory for the console font";
                return false;
            }
            FontError = Pf2Font.Read(FontFile(), (ulong)(FontFileEnd() - FontFile()), font);
            if (FontError != Pf2FontError.Ok || font->Loaded == 0)
            {
                refusal = "the console font could not be read";
                return false;
            }
            ulong end = fb->Address + fb->SizeBytes;
            if (end > DirectMap.MappedLimit && (end > MaxMappedEnd || !DirectMap.MapRange(fb->Address, end, &BootAllocator.AllocPage)))
            {
                refusal = "the framebuffer lies beyond what the kernel can map";
                return false;
            }
            s_font = font;
            const byte Grey = 0xAA;
            s_text.Initialize((byte*)fb->Address, fb->Pitch, fb->Width, fb->Height, font,
                fb->Pixel(Grey, Grey, Grey), fb->Pixel(0, 0, 0));
            refusal = null;
            return true;
        }

        internal static void Write(byte c) => s_text.Write(c);
    }
}
