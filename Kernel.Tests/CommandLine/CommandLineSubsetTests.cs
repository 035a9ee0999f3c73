using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Xunit;

namespace PoolKernel.Tests.CommandLine;

/// <summary>
/// The parser is compiled into the kernel against a minimal core library, but the host build
/// (with implicit usings) would accept BCL calls. This scan of the sources catches the common
/// slips early; the kernel build remains the proof (docs/kernel-subset.md).
/// </summary>
public sealed partial class CommandLineSubsetTests
{
    private static readonly (string Pattern, string Why)[] s_banned =
    {
        (@"\bthrow\b|\btry\b|\bcatch\b|\bfinally\b|\bchecked\b", "exceptions"),
        (@"\bnew\b", "allocation (use default or a field-by-field init)"),
        (@"\busing\b", "using directives/statements"),
        (@"\bforeach\b", "foreach"),
        (@"\binterface\b|\bvirtual\b|\boverride\b|\babstract\b", "interfaces and virtual dispatch"),
        (@"\bclass\s+\w+\s*<|\bstruct\s+\w+\s*<|\w+<\w+>\s*\(", "generics"),
        (@"\$""|\bstring\.\w|\.ToString\(|\.Equals\(|\.GetHashCode\(", "string formatting or methods"),
        (@"\b(Span|ReadOnlySpan|List|Math|Console|Debug|Array|Nullable|Marshal|Unsafe|Enum)\b", "BCL types"),
        (@"\bSystem\.(?!Numerics\.BitOperations\.|Flags\b)", "System namespaces other than BitOperations and [Flags]"),
        (@"\b(int|uint|long|ulong|byte|bool)\?", "Nullable<T>"),
        (@"^\s*(public|private|internal)?\s*static\s+(readonly\s+)?[\w\*\[\]]+\s+\w+\s*(=[^>]|;)", "static mutable state"),
    };

    [Fact]
    public void ParserSources_StayInsideTheKernelSubset()
    {
        string folder = Path.Combine(SourceDirectory(), "..", "..", "Kernel", "Boot", "CommandLine");
        string[] files = Directory.GetFiles(folder, "*.cs");
        Assert.NotEmpty(files);
        var problems = new List<string>();
        foreach (string file in files)
        {
            string[] lines = File.ReadAllLines(file);
            for (int i = 0; i < lines.Length; i++)
            {
                string code = StripCommentsAndLiterals(lines[i]);
                foreach (var (pattern, why) in s_banned)
                {
                    if (Regex.IsMatch(code, pattern))
                        problems.Add($"{Path.GetFileName(file)}:{i + 1}: {why}: {lines[i].Trim()}");
                }
            }
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    private static string StripCommentsAndLiterals(string line)
    {
        string noComment = CommentRegex().Replace(line, "");
        noComment = StringLiteralRegex().Replace(noComment, "\"\"");
        return CharLiteralRegex().Replace(noComment, "'c'");
    }

    [GeneratedRegex(@"//.*$")]
    private static partial Regex CommentRegex();

    [GeneratedRegex(@"""(\\.|[^""\\])*""")]
    private static partial Regex StringLiteralRegex();

    [GeneratedRegex(@"'(\\.|[^'\\])'")]
    private static partial Regex CharLiteralRegex();

    private static string SourceDirectory([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;
}
