namespace PoolKernel.Runtime
{
    /// <summary>
    /// Strong handles: a small table that keeps objects alive which only native memory refers to
    /// (an object whose address a device table or a raw block holds: the collector does not scan raw
    /// blocks). The table is a static array, so the collector finds it through the GC static bases
    /// like any other static. A handle is a slot number; <see cref="Free"/> lets the object go.
    /// Boot CPU only, like every allocation (docs/gc.md).
    /// </summary>
    internal static class GcHandles
    {
        /// <summary>Slots in the table.</summary>
        internal const int Capacity = 64;

        private static object[] s_table;
        private static int s_used;

        /// <summary>A handle keeping <paramref name="target"/> alive, or -1 when the table is full (or the target null).</summary>
        internal static int Alloc(object target)
        {
            if (target == null)
                return -1;
            if (s_table == null)
                s_table = new object[Capacity];
            for (int i = 0; i < Capacity; i++)
            {
                if (s_table[i] == null)
                {
                    s_table[i] = target;
                    s_used++;
                    return i;
                }
            }
            return -1;
        }

        /// <summary>The object of <paramref name="handle"/>, or null for a free or bad handle.</summary>
        internal static object Get(int handle) => s_table != null && (uint)handle < Capacity ? s_table[handle] : null;

        /// <summary>Releases <paramref name="handle"/>; a free or bad handle is ignored.</summary>
        internal static void Free(int handle)
        {
            if (s_table == null || (uint)handle >= Capacity || s_table[handle] == null)
                return;
            s_table[handle] = null;
            s_used--;
        }

        /// <summary>Handles in use.</summary>
        internal static int Used => s_used;
    }
}
