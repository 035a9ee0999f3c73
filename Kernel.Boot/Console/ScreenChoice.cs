using PoolKernel.Boot.Multiboot;

namespace PoolKernel.Boot.Console
{
    /// <summary>Where the console is mirrored besides the serial port.</summary>
    public enum ScreenKind : uint
    {
        /// <summary>Serial only: a UEFI machine without a framebuffer, or a framebuffer the console cannot draw on.</summary>
        None = 0,
        /// <summary>The VGA text screen at 0xB8000 (BIOS machines; GRUB left text mode, or no tag at all).</summary>
        VgaText = 1,
        /// <summary>A 32-bit linear framebuffer, drawn with the console font.</summary>
        Framebuffer = 2,
    }

    /// <summary>Picks the screen from what the loader said.</summary>
    public static unsafe class ScreenChoice
    {
        /// <summary>
        /// A drawable framebuffer (<see cref="FramebufferInfo.IsRgb32"/>) wins; a framebuffer tag saying
        /// EGA text, or no tag on a BIOS machine (multiboot1 included), means the VGA text screen. Any
        /// other framebuffer (indexed, 16 or 24 bits) means the screen is in a graphics mode the console
        /// cannot draw, and UEFI machines have no VGA text mode: serial only.
        /// </summary>
        public static ScreenKind Choose(BootInfo* boot)
        {
            FramebufferInfo* fb = &boot->Framebuffer;
            if (fb->IsRgb32)
                return ScreenKind.Framebuffer;
            if (fb->Present)
                return fb->Type == FramebufferType.EgaText ? ScreenKind.VgaText : ScreenKind.None;
            return boot->Efi ? ScreenKind.None : ScreenKind.VgaText;
        }
    }
}
