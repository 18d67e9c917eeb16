using System.Reflection;
using PapaActors.Tests.Support;
using TorchSharp;

namespace PapaActors.Tests.Repository;

/// <summary>
/// build/BannedSymbols.txt against the TorchSharp we build with. The analyzer silently skips an entry that names
/// nothing (a typo, a signature changed by an upgrade), so every entry must name a real TorchSharp symbol.
/// scripts/check-banned-api.sh shows that a use of a listed symbol fails the build.
/// </summary>
public sealed class BannedSymbolsTests
{
    private static readonly Dictionary<string, string> Banned = File.ReadAllLines(RepositoryFiles.Path("build", "BannedSymbols.txt"))
        .Where(line => line.Length > 0 && !line.StartsWith("//", StringComparison.Ordinal))
        .Select(line => line.Split(';', 2))
        .ToDictionary(entry => entry[0], entry => entry.ElementAtOrDefault(1) ?? "");

    [Fact]
    public void EveryEntryNamesATorchSharpSymbolAndSaysWhatToUseInstead()
    {
        var symbols = typeof(Scalar).Assembly.GetExportedTypes().SelectMany(DocumentationIds).ToHashSet();

        Assert.All(Banned.Keys, id => Assert.Contains(id, symbols));
        Assert.All(Banned.Values, message => Assert.StartsWith("Use ", message));
    }

    [Fact]
    public void TheTemporaryScalarsThatScalarsDocumentsAndTheReplacedTorchSharpCodeAreBanned()
    {
        Assert.Contains("M:TorchSharp.Scalar.op_Implicit(System.Int32)~TorchSharp.Scalar", Banned.Keys);
        Assert.Contains("M:TorchSharp.Scalar.op_Implicit(System.Double)~TorchSharp.Scalar", Banned.Keys);
        Assert.Contains("M:TorchSharp.torch.Tensor.add(TorchSharp.torch.Tensor)", Banned.Keys);
        Assert.Contains("T:TorchSharp.torch.optim", Banned.Keys);
        Assert.Contains(Banned.Keys, id => id.StartsWith("M:TorchSharp.torch.nn.BatchNorm2d(", StringComparison.Ordinal));
    }

    /// <summary>The C# documentation IDs of a type and its public methods, as BannedSymbols.txt writes them.</summary>
    private static IEnumerable<string> DocumentationIds(Type type)
    {
        yield return "T:" + Id(type);
        foreach (var method in type.GetMethods(BindingFlags.Public | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly))
        {
            var parameters = method.GetParameters();
            var arguments = parameters.Length == 0 ? "" : $"({string.Join(",", parameters.Select(p => Id(p.ParameterType)))})";
            var conversion = method.Name is "op_Implicit" or "op_Explicit" ? "~" + Id(method.ReturnType) : "";
            yield return $"M:{Id(type)}.{method.Name}{arguments}{conversion}";
        }
    }

    private static string Id(Type type) =>
        type.IsArray ? Id(type.GetElementType()!) + "[]"
        : type.IsByRef ? Id(type.GetElementType()!) + "@"
        : type.IsPointer ? Id(type.GetElementType()!) + "*"
        : type.IsGenericParameter ? (type.DeclaringMethod is null ? "`" : "``") + type.GenericParameterPosition
        : type.IsGenericType && !type.IsGenericTypeDefinition
            ? $"{Id(type.GetGenericTypeDefinition()).Split('`')[0]}{{{string.Join(",", type.GetGenericArguments().Select(Id))}}}"
        : type.FullName!.Replace('+', '.');
}
