using System;
using PoolKernel.Boot.Text;

namespace PoolKernel.Startup
{
    /// <summary>The kernel console (serial and VGA) as a <see cref="TextOut"/>, for the reports of the pure projects.</summary>
    internal static class ConsoleOut
    {
        /// <summary>A writer on the console; it has no state, so any number may exist at once.</summary>
        internal static TextOut Instance => Console.Out;
    }
}
