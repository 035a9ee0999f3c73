namespace PoolKernel.Boot.CommandLine
{
    /// <summary>
    /// The deliberate failures <c>test=NAME</c> can ask for (the kernel's SelfTest/BootTestHooks runs them).
    /// The parser accepts only these names, so an unknown one is refused with a line naming it.
    /// </summary>
    public enum BootTest : byte
    {
        /// <summary>No test= (or an unknown name, which was refused).</summary>
        None = 0,
        /// <summary>A page fault on an unmapped address.</summary>
        Fault,
        /// <summary>An invalid opcode.</summary>
        Ud,
        /// <summary>A divide error.</summary>
        Divide,
        /// <summary>General protection (a non-canonical address).</summary>
        Gp,
        /// <summary>A fault with no usable stack.</summary>
        DoubleFault,
        /// <summary>A managed throw with no handler.</summary>
        Throw,
    }

    public static unsafe class BootTests
    {
        /// <summary>The names test= accepts, for diagnostics and docs: must list every <see cref="BootTest"/> but None.</summary>
        public const string KnownNames = "fault, ud, divide, gp, doublefault, throw";

        /// <summary>The test named by [name, name+length), or None when no test has that exact name.</summary>
        public static BootTest Parse(byte* name, int length)
        {
            for (BootTest t = BootTest.Fault; t <= BootTest.Throw; t++)
            {
                string literal = Name(t);
                if (length != literal.Length)
                    continue;
                int i = 0;
                while (i < length && name[i] == literal[i])
                    i++;
                if (i == length)
                    return t;
            }
            return BootTest.None;
        }

        public static string Name(BootTest test)
        {
            switch (test)
            {
                case BootTest.Fault: return "fault";
                case BootTest.Ud: return "ud";
                case BootTest.Divide: return "divide";
                case BootTest.Gp: return "gp";
                case BootTest.DoubleFault: return "doublefault";
                case BootTest.Throw: return "throw";
                default: return "";
            }
        }
    }
}
