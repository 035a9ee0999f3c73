using PoolKernel.Boot.Text;
using PoolKernel.Sim;
using Xunit;

namespace PoolKernel.Tests.Sim;

/// <summary>The bounded text sink the kernel keeps its set-up pools table in (`pools boot`).</summary>
public unsafe class TextBufferTests
{
    [Fact]
    public void WhatFits_IsKeptAsWritten()
    {
        byte* bytes = stackalloc byte[64];
        TextBuffer buffer = new TextBuffer(bytes, 64);
        TextOut w = TextBuffer.Out(&buffer);
        w.Write("pool ");
        w.Pad(42, 5);
        w.WriteLine();
        Assert.Equal("pool    42\n", Replay(&buffer));
        Assert.Equal(0, buffer.Dropped);
    }

    [Fact]
    public void WhatDoesNotFit_IsCountedAndSaid_NothingWrittenPastTheEnd()
    {
        byte* bytes = stackalloc byte[8];
        for (int i = 0; i < 8; i++)
            bytes[i] = 0xAA;
        TextBuffer buffer = new TextBuffer(bytes, 4);
        TextOut w = TextBuffer.Out(&buffer);
        w.Write("abcdefg");
        Assert.Equal(4, buffer.Length);
        Assert.Equal(3, buffer.Dropped);
        for (int i = 4; i < 8; i++)
            Assert.Equal(0xAA, bytes[i]);
        Assert.Equal("abcd(cut: 3 more characters did not fit)\n", Replay(&buffer));
    }

    [Fact]
    public void NonAscii_IsStoredAsQuestionMark()
    {
        byte* bytes = stackalloc byte[4];
        TextBuffer buffer = new TextBuffer(bytes, 4);
        TextBuffer.Out(&buffer).Write("a\u00e9");
        Assert.Equal("a?", Replay(&buffer));
    }

    private static string Replay(TextBuffer* buffer)
    {
        using var text = new StringOut();
        buffer->CopyTo(text.Out);
        return text.ToString();
    }
}
