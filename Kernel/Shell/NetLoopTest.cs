using System;
using PoolKernel.Drivers;
using PoolKernel.Platform;

namespace PoolKernel.Shell
{
    /// <summary>
    /// Sends N broadcast frames with a numbered, patterned payload through a NIC in loopback and
    /// counts how many come back byte-for-byte intact.
    /// </summary>
    internal static unsafe class NetLoopTest
    {
        private const int FrameLength = 128;
        private const ushort EtherType = 0x88B5;   // IEEE local experimental

        internal static void Run(NetworkDevice nic, ulong frames)
        {
            byte* frame = stackalloc byte[FrameLength];
            byte* received = stackalloc byte[2048];
            ulong intact = 0, corrupt = 0, lost = 0;
            for (ulong n = 0; n < frames; n++)
            {
                Build(frame, nic.MacAddress, n);
                if (!nic.Send(frame, FrameLength))
                {
                    lost++;
                    continue;
                }
                int length = 0;
                for (int spin = 0; spin < 2000000 && length == 0; spin++)
                    length = nic.Receive(received, 2048);
                if (length == 0)
                {
                    lost++;
                    continue;
                }
                if (length >= FrameLength && Same(frame, received, FrameLength))
                    intact++;
                else
                    corrupt++;
            }
            Console.Write("netloop: ");
            Console.Write(nic.Name);
            Console.Write(" sent ");
            Console.Write(frames);
            Console.Write(", back intact ");
            Console.Write(intact);
            Console.Write(", corrupt ");
            Console.Write(corrupt);
            Console.Write(", lost ");
            Console.Write(lost);
            Console.WriteLine();
        }

        private static void Build(byte* frame, byte* mac, ulong sequence)
        {
            for (int i = 0; i < 6; i++)
            {
                frame[i] = 0xFF;
                frame[6 + i] = mac[i];
            }
            frame[12] = (byte)(EtherType >> 8);
            frame[13] = (byte)(EtherType & 0xFF);
            for (int i = 14; i < FrameLength; i++)
                frame[i] = (byte)(sequence * 31 + (ulong)i * 7);
            *(ulong*)(frame + 14) = sequence;
        }

        private static bool Same(byte* a, byte* b, int length)
        {
            for (int i = 0; i < length; i++)
            {
                if (a[i] != b[i])
                    return false;
            }
            return true;
        }
    }
}
