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
}
