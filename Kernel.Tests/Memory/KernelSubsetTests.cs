using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using PoolKernel.Memory;
using Xunit;

namespace PoolKernel.Tests.Memory;

/// <summary>
/// The host-side guard for docs/kernel-subset.md: Kernel.Memory.dll may reference no BCL member
/// except BitOperations, string's Length and indexer, and attribute constructors the compiler
/// emits; and it may have no static mutable state. The kernel build enforces the same; this
/// catches a slip before it gets there.
/// </summary>
public class KernelSubsetTests
{
    private static readonly HashSet<string> AllowedMembers = new()
    {
        "BitOperations::Log2", "BitOperations::TrailingZeroCount", "BitOperations::LeadingZeroCount",
        "BitOperations::PopCount", "BitOperations::IsPow2", "String::get_Length", "String::get_Chars",
    };

    private static MetadataReader Open(out PEReader pe)
    {
        pe = new PEReader(File.OpenRead(typeof(PhysicalMemory).Assembly.Location));
        return pe.GetMetadataReader();
    }

    [Fact]
    public void ReferencesOnlyTheAllowedBclMembers()
    {
        MetadataReader md = Open(out PEReader pe);
        using (pe)
        {
            var bad = new List<string>();
            foreach (MemberReferenceHandle h in md.MemberReferences)
            {
                MemberReference m = md.GetMemberReference(h);
                string parent = m.Parent.Kind == HandleKind.TypeReference
                    ? md.GetString(md.GetTypeReference((TypeReferenceHandle)m.Parent).Name)
                    : m.Parent.Kind.ToString();
                string name = $"{parent}::{md.GetString(m.Name)}";
                bool attribute = parent.EndsWith("Attribute") && md.GetString(m.Name) == ".ctor";
                if (!attribute && !AllowedMembers.Contains(name))
                    bad.Add(name);
            }
            Assert.True(bad.Count == 0, "outside the kernel subset: " + string.Join(", ", bad));
        }
    }

    [Fact]
    public void HasNoStaticMutableState()
    {
        var bad = typeof(PhysicalMemory).Assembly.GetTypes()
            .SelectMany(t => t.GetFields(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            .Where(f => !f.IsLiteral)
            .Select(f => $"{f.DeclaringType!.Name}.{f.Name}")
            .ToList();
        Assert.True(bad.Count == 0, "static fields: " + string.Join(", ", bad));
    }

    [Fact]
    public void DefinesNoClassesOtherThanStaticHelpers()
    {
        var bad = typeof(PhysicalMemory).Assembly.GetTypes()
            .Where(t => t.IsClass && !(t.IsAbstract && t.IsSealed) && !t.Name.StartsWith("<"))
            .Select(t => t.Name)
            .ToList();
        Assert.True(bad.Count == 0, "instantiable classes: " + string.Join(", ", bad));
    }
}
