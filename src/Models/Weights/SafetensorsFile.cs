using System.Buffers.Binary;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace PapaActors.Models.Weights;

/// <summary>
/// Saves and loads snapshots as safetensors (through TorchSharp.PyBridge) under PyTorch state-dict names,
/// so `safetensors.torch.load_file` plus `load_state_dict` in PyTorch reads them directly.
/// </summary>
public static class SafetensorsFile
{
    /// <summary>Writes to a temporary file first, so an existing file is never left half-written.</summary>
    public static void Save(WeightSnapshot snapshot, string path)
    {
        using var scope = NewDisposeScope();
        var flat = snapshot.View();
        var tensors = snapshot.Layout.Entries.Select((entry, i) =>
        {
            var values = flat.narrow(0, snapshot.Layout.OffsetOf(i), entry.Length).view([.. entry.Shape]);
            return (entry.Name, entry.Kind == WeightKind.Counter ? values.to_type(ScalarType.Int64) : values.clone());
        }).ToDictionary(x => x.Name, x => x.Item2);

        var temporary = path + ".partial";
        FileKind.EnsureWritable(path);
        File.Delete(temporary); // a leftover, or a link planted there, is replaced rather than written through
        try
        {
            Safetensors.SaveStateDict(temporary, tensors);
            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            File.Delete(temporary); // a full disk must not leave a half file behind
            throw;
        }
    }

    /// <summary>Reads a file written for <paramref name="layout"/>; any missing, extra or reshaped tensor is an error.</summary>
    public static WeightSnapshot Load(string path, WeightLayout layout)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path}: file not found", path);
        if (HeaderProblem(path, layout) is { } problem)
            throw new WeightLayoutException($"{path}: {problem}");
        using var scope = NewDisposeScope();
        Dictionary<string, Tensor> tensors;
        try
        {
            tensors = Safetensors.LoadStateDict(path);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new WeightLayoutException($"{path}: not a readable safetensors file ({e.GetType().Name}: {e.Message})");
        }

        var extra = tensors.Keys.Except(layout.Entries.Select(e => e.Name)).ToList();
        if (extra.Count > 0)
            throw new WeightLayoutException($"{path}: unexpected tensor(s) {string.Join(", ", extra.Take(5))}");
        var values = new float[layout.TotalLength];
        var flat = from_array(values);
        for (var i = 0; i < layout.Entries.Count; i++)
        {
            var entry = layout.Entries[i];
            if (!tensors.TryGetValue(entry.Name, out var tensor))
                throw new WeightLayoutException($"{path}: tensor '{entry.Name}' is missing");
            if (!tensor.shape.SequenceEqual(entry.Shape))
                throw new WeightLayoutException($"{path}: '{entry.Name}' has shape [{string.Join(", ", tensor.shape)}], expected {entry.ShapeText}");
            flat.narrow(0, layout.OffsetOf(i), entry.Length).copy_(tensor.reshape(-1));
        }
        return WeightSnapshot.FromOwned(layout, values);
    }

    /// <summary>
    /// What is wrong with the header of a file meant for <paramref name="layout"/> (null: nothing), found before
    /// anything is allocated for what the header claims: a regular file; its header length within the file;
    /// exactly the layout's tensors, each with its dtype (F32, or I64 for a counter), its shape, and data offsets
    /// that lie inside the file and fit that shape.
    /// </summary>
    public static string? HeaderProblem(string path, WeightLayout layout)
    {
        if (FileKind.Problem(path, followLinks: false) is { } problem)
            return problem;
        JsonObject header;
        long dataBytes;
        using (var stream = File.OpenRead(path))
        {
            Span<byte> word = stackalloc byte[8];
            if (stream.Length < word.Length)
                return $"{stream.Length} bytes, too short for a safetensors file";
            stream.ReadExactly(word);
            var headerBytes = BinaryPrimitives.ReadUInt64LittleEndian(word);
            var room = Math.Min(stream.Length - word.Length, MaxHeaderBytes);
            if (headerBytes > (ulong)room)
                return $"the header claims {headerBytes} bytes, there can be at most {room}";
            var text = new byte[headerBytes];
            stream.ReadExactly(text);
            dataBytes = stream.Length - word.Length - (long)headerBytes;
            try
            {
                if (JsonNode.Parse(text) is not JsonObject parsed)
                    return "the header is not a JSON object";
                header = parsed;
            }
            catch (JsonException e)
            {
                return $"the header is not valid JSON ({e.Message})";
            }
        }
        var expected = layout.Entries.ToDictionary(e => e.Name);
        foreach (var (name, node) in header)
        {
            if (name == "__metadata__")
                continue;
            if (!expected.Remove(name, out var entry))
                return $"unexpected tensor '{name}'";
            if (node is not JsonObject tensor)
                return $"'{name}' is {node?.ToJsonString() ?? "null"}, not a tensor";
            var (dtype, width) = entry.Kind == WeightKind.Counter ? ("I64", 8) : ("F32", 4);
            if (tensor["dtype"] is not JsonValue type || !type.TryGetValue<string>(out var found) || found != dtype)
                return $"'{name}' has dtype {tensor["dtype"]?.ToJsonString()}, expected {dtype}";
            if (Longs(tensor["shape"]) is not { } shape || !shape.SequenceEqual(entry.Shape))
                return $"'{name}' has shape {tensor["shape"]?.ToJsonString()}, expected {entry.ShapeText}";
            if (Longs(tensor["data_offsets"]) is not [var begin, var end] || begin < 0 || end > dataBytes || end - begin != entry.Length * width)
                return $"'{name}' has data offsets {tensor["data_offsets"]?.ToJsonString()}, not {entry.Length * width} bytes within the {dataBytes} bytes of data";
        }
        return expected.Count > 0 ? $"tensor '{expected.Keys.First()}' is missing" : null;
    }

    /// <summary>The format's own limit on the header.</summary>
    private const long MaxHeaderBytes = 100_000_000;

    private static long[]? Longs(JsonNode? node) =>
        node is JsonArray array && array.All(n => n is JsonValue v && v.TryGetValue<long>(out _))
            ? array.Select(n => n!.GetValue<long>()).ToArray()
            : null;
}
