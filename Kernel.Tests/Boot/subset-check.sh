#!/bin/sh
# Compiles Kernel/Boot/**/*.cs against a stub core library holding only what
# docs/kernel-subset.md allows (primitives, string Length/indexer, the attributes
# fixed buffers need). Catches BCL use in the boot parsers before the kernel build does.
# Usage: sh Kernel.Tests/Boot/subset-check.sh   (from the repository root)
set -e
root=$(cd "$(dirname "$0")/../.." && pwd)
csc=$(ls "$(dirname "$(command -v dotnet)")"/sdk/*/Roslyn/bincore/csc.dll 2>/dev/null | tail -1)
[ -n "$csc" ] || csc=$(ls /usr/share/dotnet/sdk/*/Roslyn/bincore/csc.dll | tail -1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/corelib.cs" <<'CORELIB'
namespace System
{
    public class Object { }
    public abstract class ValueType { }
    public abstract class Enum : ValueType { }
    public struct Void { }
    public struct Boolean { }
    public struct Char { }
    public struct SByte { }
    public struct Byte { }
    public struct Int16 { }
    public struct UInt16 { }
    public struct Int32 { }
    public struct UInt32 { }
    public struct Int64 { }
    public struct UInt64 { }
    public struct IntPtr { }
    public struct UIntPtr { }
    public struct Single { }
    public struct Double { }
    public sealed class String
    {
        public int Length => 0;
        [System.Runtime.CompilerServices.IndexerName("Chars")]
        public char this[int index] => '\0';
    }
    public abstract class Array { }
    public abstract class Attribute { }
    public enum AttributeTargets { All = 0x7FFF }
    public sealed class AttributeUsageAttribute : Attribute
    {
        public AttributeUsageAttribute(AttributeTargets t) { }
        public bool AllowMultiple { get; set; }
        public bool Inherited { get; set; }
    }
    public abstract class Delegate { }
    public abstract class MulticastDelegate : Delegate { }
    public struct RuntimeTypeHandle { }
    public struct RuntimeFieldHandle { }
    public struct RuntimeMethodHandle { }
    public abstract class Type { }
    public sealed class ParamArrayAttribute : Attribute { }
}
namespace System.Runtime.CompilerServices
{
    public sealed class IndexerNameAttribute : Attribute { public IndexerNameAttribute(string n) { } }
    public sealed class FixedBufferAttribute : Attribute { public FixedBufferAttribute(Type t, int n) { } }
    public sealed class UnsafeValueTypeAttribute : Attribute { }
    public sealed class CompilerGeneratedAttribute : Attribute { }
    public sealed class IsReadOnlyAttribute : Attribute { }
    public sealed class RefSafetyRulesAttribute : Attribute { public RefSafetyRulesAttribute(int v) { } }
    public static class RuntimeFeature { public const string ByRefFields = "ByRefFields"; }
}
namespace System.Reflection
{
    public sealed class DefaultMemberAttribute : Attribute { public DefaultMemberAttribute(string n) { } }
}
CORELIB
dotnet "$csc" -nologo -nostdlib -noconfig -target:library -out:"$work/mini.dll" "$work/corelib.cs" -nowarn:8021
dotnet "$csc" -nologo -nostdlib -noconfig -target:library -unsafe -langversion:latest -warnaserror -nowarn:8021 \
    -r:"$work/mini.dll" -out:"$work/boot.dll" $(find "$root/Kernel/Boot" -name '*.cs')
echo "Kernel/Boot compiles against the kernel subset stub."
