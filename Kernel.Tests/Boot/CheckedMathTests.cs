using System.Numerics;
using PoolKernel.Boot;
using Xunit;

namespace PoolKernel.Tests.Boot;

/// <summary>CheckedMath against BigInteger: exact or false, on the edges of 64 bits.</summary>
public sealed class CheckedMathTests
{
    private static readonly ulong[] s_edges =
    {
        0, 1, 2, 4095, 4096, 4097, (2UL << 20) - 1, 2UL << 20, uint.MaxValue - 1UL, uint.MaxValue, 1UL << 32, (1UL << 32) + 1,
        (1UL << 52) - 1, 1UL << 52, long.MaxValue, 1UL << 63, ulong.MaxValue - 4096, ulong.MaxValue - 1, ulong.MaxValue,
    };
    private static readonly BigInteger s_limit = BigInteger.One << 64;

    [Fact]
    public void EveryOperation_IsExactOrRefused_OnEveryPairOfEdges()
    {
        foreach (ulong a in s_edges)
        {
            foreach (ulong b in s_edges)
            {
                Check(CheckedMath.Add(a, b, out ulong sum), sum, (BigInteger)a + b, $"{a} + {b}");
                Check(CheckedMath.Multiply(a, b, out ulong product), product, (BigInteger)a * b, $"{a} * {b}");
                if (b != 0)
                {
                    BigInteger up = ((BigInteger)a + b - 1) / b * b;
                    Check(CheckedMath.RoundUp(a, b, out ulong rounded), rounded, up, $"roundup({a}, {b})");
                    Assert.Equal(((BigInteger)a + b - 1) / b, (BigInteger)CheckedMath.DivideRoundUp(a, b));
                }
            }
            for (int shift = 0; shift < 64; shift++)
                Check(CheckedMath.ShiftLeft(a, shift, out ulong shifted), shifted, (BigInteger)a << shift, $"{a} << {shift}");
            Assert.False(CheckedMath.ShiftLeft(a, 64, out _));
            for (uint percent = 0; percent <= 100; percent++)
                Assert.Equal((BigInteger)a * percent / 100, (BigInteger)CheckedMath.PercentOf(a, percent));
        }
        Assert.False(CheckedMath.RoundUp(5, 0, out _));
    }

    private static void Check(bool ok, ulong value, BigInteger exact, string what)
    {
        Assert.True(ok == exact < s_limit, $"{what}: ok={ok}, exact {exact}");
        Assert.Equal(ok ? exact : BigInteger.Zero, (BigInteger)value);
    }
}
