using System.Runtime.InteropServices;
using System.Text;
using PoolKernel.Boot.CommandLine;

namespace PoolKernel.Tests.CommandLine;

/// <summary>A parsed command line for tests: guarded input, native BootOptions, readable accessors.</summary>
internal sealed unsafe class Parsed : IDisposable
{
    private readonly GuardedText _text;
    public BootOptions* Options { get; }
    public string Line { get; }

    public Parsed(string line) : this(Encoding.Latin1.GetBytes(line)) { }

    public Parsed(byte[] bytes, GuardedText.Placement placement = GuardedText.Placement.AtEnd)
    {
        Line = Encoding.Latin1.GetString(bytes);
        _text = new GuardedText(bytes, placement);
        Options = (BootOptions*)NativeMemory.AllocZeroed((nuint)sizeof(BootOptions));
        CommandLineParser.Parse(_text.Text, _text.Length, Options);
    }

    public void Dispose()
    {
        NativeMemory.Free(Options);
        _text.Dispose();
    }

    public string Slice(int offset, int length) => Encoding.Latin1.GetString(Options->Text + offset, length);

    public static string NameOf(PoolSpec* pool)
    {
        var sb = new StringBuilder();
        for (int i = 0; i < pool->NameLength; i++)
            sb.Append((char)pool->NameByte(i));
        return sb.ToString();
    }

    public string[] PoolNames()
    {
        var names = new string[Options->PoolCount];
        for (int i = 0; i < names.Length; i++)
            names[i] = NameOf(Options->Pool(i));
        return names;
    }

    public PoolSpec Pool(string name)
    {
        for (int i = 0; i < Options->PoolCount; i++)
        {
            if (NameOf(Options->Pool(i)) == name)
                return *Options->Pool(i);
        }
        throw new Xunit.Sdk.XunitException($"no pool '{name}' in [{string.Join(", ", PoolNames())}] parsing '{Line}'");
    }

    public TokenRecord Token(int index) => *Options->Token(index);

    /// <summary>The diagnostic of token <paramref name="index"/>, or a None diagnostic when accepted.</summary>
    public Diagnostic DiagnosticOf(int index)
    {
        TokenRecord* token = Options->Token(index);
        return token->DiagnosticIndex < 0 ? default : *Options->DiagnosticAt(token->DiagnosticIndex);
    }

    public string RunText => Slice(Options->RunOffset, Options->RunLength);
    public string TestText => Slice(Options->TestOffset, Options->TestLength);

    /// <summary>Every token, diagnostic and pool, for assertion messages.</summary>
    public string Dump()
    {
        var sb = new StringBuilder();
        sb.Append("line '").Append(Line).Append("'\n");
        for (int i = 0; i < Options->TokenCount; i++)
        {
            TokenRecord t = Token(i);
            Diagnostic d = DiagnosticOf(i);
            sb.Append($"  token {i} '{Slice(t.Offset, t.Length)}' {t.Kind} {t.Status}");
            if (t.DiagnosticIndex >= 0)
                sb.Append($" {d.Code} part='{Slice(d.PartOffset, d.PartLength)}' v0={d.Value0} v1={d.Value1} more={d.MoreProblems}");
            sb.Append('\n');
        }
        foreach (string name in PoolNames())
            sb.Append("  pool ").Append(name).Append('\n');
        return sb.ToString();
    }
}
