using System.Reflection;
using System.Reflection.Emit;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using PoolKernel.Boot;
using PoolKernel.Memory;
using PoolKernel.Shell;
using Xunit;

namespace PoolKernel.Tests.Memory;

/// <summary>
/// The host-side guard for docs/kernel-subset.md, over every pure project (Kernel.Memory,
/// Kernel.Boot, Kernel.Shell): an assembly may reference no BCL member except BitOperations,
/// string's Length and indexer, and attribute constructors the compiler emits; it may have no
/// static mutable state, no instantiable classes, no interfaces, generics or virtual methods, and
/// no method may allocate (newarr, box, newobj of a reference type), throw, catch or use checked
/// arithmetic. The kernel build enforces
/// the subset; this catches a slip before it gets there, from the compiled metadata and IL rather
/// than from the source text.
/// </summary>
public class KernelSubsetTests
{
    private static readonly HashSet<string> AllowedMembers = new()
    {
        "BitOperations::Log2", "BitOperations::TrailingZeroCount", "BitOperations::LeadingZeroCount",
        "BitOperations::PopCount", "BitOperations::IsPow2", "String::get_Length", "String::get_Chars",
        // The spin lock's word (Kernel.Memory/Sync/SpinLock.cs); the kernel CoreLib has them (Runtime/CoreLib/Threading.cs).
        "Interlocked::CompareExchange", "Volatile::Read", "Volatile::Write",
    };

    /// <summary>One type from each pure project: the assemblies the kernel compiles from source.</summary>
    private static readonly string[] s_pureProjects = { "Kernel.Memory", "Kernel.Boot", "Kernel.Shell" };

    public static TheoryData<string> PureProjects => new(s_pureProjects);

    private static Assembly Load(string project) => project switch
    {
        "Kernel.Memory" => typeof(PhysicalMemory).Assembly,
        "Kernel.Boot" => typeof(CheckedMath).Assembly,
        "Kernel.Shell" => typeof(ShellArgs).Assembly,
        _ => throw new ArgumentException(project),
    };

    [Theory]
    [MemberData(nameof(PureProjects))]
    public void ReferencesOnlyTheAllowedBclMembers(string project)
    {
        using var pe = new PEReader(File.OpenRead(Load(project).Location));
        MetadataReader md = pe.GetMetadataReader();
        var bad = new List<string>();
        foreach (MemberReferenceHandle h in md.MemberReferences)
        {
            MemberReference m = md.GetMemberReference(h);
            string parent = m.Parent.Kind.ToString();
            if (m.Parent.Kind == HandleKind.TypeReference)
            {
                TypeReference type = md.GetTypeReference((TypeReferenceHandle)m.Parent);
                if (PureAssembly(md, type))
                    continue;
                parent = md.GetString(type.Name);
            }
            string name = $"{parent}::{md.GetString(m.Name)}";
            bool attribute = parent.EndsWith("Attribute") && md.GetString(m.Name) == ".ctor";
            if (!attribute && !AllowedMembers.Contains(name))
                bad.Add(name);
        }
        Assert.True(bad.Count == 0, project + " outside the kernel subset: " + string.Join(", ", bad));
    }

    /// <summary>A type of another pure project (Kernel.Boot calls Kernel.Memory): held to the same test there.</summary>
    private static bool PureAssembly(MetadataReader md, TypeReference type)
    {
        while (type.ResolutionScope.Kind == HandleKind.TypeReference)
            type = md.GetTypeReference((TypeReferenceHandle)type.ResolutionScope);
        if (type.ResolutionScope.Kind != HandleKind.AssemblyReference)
            return false;
        string name = md.GetString(md.GetAssemblyReference((AssemblyReferenceHandle)type.ResolutionScope).Name);
        return s_pureProjects.Contains(name);
    }

    [Theory]
    [MemberData(nameof(PureProjects))]
    public void HasNoStaticMutableState(string project)
    {
        var bad = Load(project).GetTypes()
            .SelectMany(t => t.GetFields(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            .Where(f => !f.IsLiteral)
            .Select(f => $"{f.DeclaringType!.Name}.{f.Name}")
            .ToList();
        Assert.True(bad.Count == 0, project + " static fields: " + string.Join(", ", bad));
    }

    [Theory]
    [MemberData(nameof(PureProjects))]
    public void DefinesNoClassesOtherThanStaticHelpers(string project)
    {
        var bad = Load(project).GetTypes()
            .Where(t => t.IsClass && !(t.IsAbstract && t.IsSealed) && !t.Name.StartsWith("<"))
            .Select(t => t.Name)
            .ToList();
        Assert.True(bad.Count == 0, project + " instantiable classes: " + string.Join(", ", bad));
    }

    [Theory]
    [MemberData(nameof(PureProjects))]
    public void DefinesNoInterfacesGenericsOrVirtualMethods(string project)
    {
        var bad = new List<string>();
        foreach (Type t in Load(project).GetTypes().Where(t => !t.Name.StartsWith("<")))
        {
            if (t.IsInterface)
                bad.Add($"interface {t.Name}");
            if (t.IsGenericTypeDefinition)
                bad.Add($"generic type {t.Name}");
            foreach (MethodInfo m in t.GetMethods(BindingFlags.Instance | BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            {
                if (m.IsVirtual)
                    bad.Add($"virtual {t.Name}.{m.Name}");
                if (m.IsGenericMethodDefinition)
                    bad.Add($"generic method {t.Name}.{m.Name}");
            }
        }
        Assert.True(bad.Count == 0, project + ": " + string.Join(", ", bad));
    }

    [Theory]
    [MemberData(nameof(PureProjects))]
    public void NoMethodAllocatesOrThrows(string project)
    {
        var bad = new List<string>();
        foreach (Type t in Load(project).GetTypes())
        {
            const BindingFlags all = BindingFlags.Instance | BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;
            foreach (MethodBase m in t.GetMethods(all).Cast<MethodBase>().Concat(t.GetConstructors(all)))
            {
                MethodBody body = m.GetMethodBody();
                if (body == null)
                    continue;
                if (body.ExceptionHandlingClauses.Count != 0)
                    bad.Add($"{t.Name}.{m.Name}: try");
                foreach (string what in Forbidden(m.Module, body.GetILAsByteArray()!))
                    bad.Add($"{t.Name}.{m.Name}: {what}");
            }
        }
        Assert.True(bad.Count == 0, project + " allocates or throws: " + string.Join(", ", bad));
    }

    private static readonly Dictionary<short, OpCode> s_opCodes = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    /// <summary>
    /// The forbidden instructions of one method body: allocation (newarr, box, newobj of a class),
    /// exceptions (throw, rethrow) and checked arithmetic (the .ovf forms, which throw).
    /// </summary>
    private static IEnumerable<string> Forbidden(Module module, byte[] il)
    {
        int i = 0;
        while (i < il.Length)
        {
            short value = il[i] == 0xFE ? (short)(0xFE00 | il[i + 1]) : il[i];
            OpCode op = s_opCodes[value];
            i += op.Size;
            int operand = op.OperandType switch
            {
                OperandType.InlineNone => 0,
                OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
                OperandType.InlineVar => 2,
                OperandType.InlineI8 or OperandType.InlineR => 8,
                OperandType.InlineSwitch => 4 + 4 * BitConverter.ToInt32(il, i),
                _ => 4,
            };
            // stackalloc T[n] computes n * sizeof(T) with mul.ovf.un right before localloc: the compiler's, allowed.
            bool sizesStackalloc = op == OpCodes.Mul_Ovf_Un && i + operand < il.Length && il[i + operand] == 0xFE && il[i + operand + 1] == 0x0F;
            if (op == OpCodes.Newarr || op == OpCodes.Box || op == OpCodes.Throw || op == OpCodes.Rethrow || (op.Name!.Contains(".ovf") && !sizesStackalloc))
                yield return op.Name!;
            if (op == OpCodes.Newobj)
            {
                MethodBase ctor = module.ResolveMethod(BitConverter.ToInt32(il, i))!;
                if (!ctor.DeclaringType!.IsValueType)
                    yield return $"newobj {ctor.DeclaringType.Name}";
            }
            i += operand;
        }
    }
}
